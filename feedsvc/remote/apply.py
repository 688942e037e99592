"""Fetched feeds written into the store: step 3 of remote ingest, one source at a time.

:func:`next_state` (pure) is a source's state after a fetch: validators,
errors in a row and the backoff, the interval raised by cache hints, the
next due time, or disabled after a 410.  :class:`Applier` decides for each
entry whether it is unchanged, a revision, a duplicate of an entry that
arrived another way, or new, and writes it with the source's new state, all
or nothing in a savepoint; the caller holds the transaction.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..config import Config, FetchConfig, SourceConfig
from ..models import Article, Decision
from ..store import KnownItem, SourceItem, SourceState, Store
from .fetch import Outcome
from .links import canonical_id, canonical_url
from .plans import Fetched, SourceReport, stored_url
from .politeness import backoff, effective_interval
from .prepare import Prepared, plausible

if TYPE_CHECKING:
    from .. import dedup
    from ..deduper import Deduper

# feedsvc.dedup (numpy) and feedsvc.deduper are imported where entries are
# stored: a pass of 304s needs neither, and numpy costs a tenth of a second.

log = logging.getLogger(__name__)

#: A fetch that failed this many times in a row is logged as an error, not a warning.
LOUD_AFTER = 3


# ----------------------------------------------------------------------------- state (pure)


def next_state(fetched: Fetched, fetch: FetchConfig, rng: random.Random) -> SourceState:
    """The source's state after this fetch."""
    plan, r, now = fetched.plan, fetched.response, fetched.fetched_at
    s = plan.state
    configured = float(plan.source.interval or fetch.interval)
    common = replace(s, last_fetch=now, last_status=r.status,
                     current_url=r.permanent_url or s.current_url)
    if r.outcome is Outcome.GONE:
        return replace(common, disabled=f"HTTP 410 Gone on {now:%Y-%m-%d %H:%M} UTC: the "
                       f"feed was removed; 'feedsvc sources enable {s.name}' fetches it again",
                       last_error=r.error, next_due=None, errors=s.errors + 1)
    error = r.error if r.outcome is Outcome.FAILED else fetched.error
    if error is not None:
        errors = s.errors + 1
        wait = backoff(errors, s.interval or configured, fetch, rng)
        if r.retry_after is not None:  # honoured, within reason
            wait = max(wait, min(r.retry_after, float(max(fetch.backoff_cap,
                                                          fetch.max_interval))))
        return replace(common, errors=errors, last_error=error,
                       next_due=now + timedelta(seconds=wait))
    ttl = fetched.meta.ttl * 60.0 if fetched.meta and fetched.meta.ttl else None
    if r.outcome is Outcome.NOT_MODIFIED or fetched.unchanged_body:
        # A 304 may repeat the validators or leave them out: keep ours then.
        etag, modified, ttl = r.etag or s.etag, r.last_modified or s.last_modified, None
    else:
        etag, modified = r.etag, r.last_modified
    interval = effective_interval(configured, [r.max_age, ttl if ttl else None], fetch)
    if ttl is None and fetched.meta is None and s.interval:
        interval = max(interval, min(s.interval, float(fetch.max_interval)))  # keep the ttl
    state = replace(common, errors=0, last_error=None, etag=etag, last_modified=modified,
                    body_hash=fetched.body_hash or s.body_hash, interval=interval,
                    next_due=now + timedelta(seconds=interval))
    if fetched.meta is not None:
        meta = fetched.meta
        state = replace(state, title=meta.title or None, site_link=meta.link,
                        feed_id=canonical_id(meta.id) or canonical_url(r.url),
                        feed_updated=plausible(meta.updated, now),
                        note="; ".join(fetched.notes) or None)
    return state


# ----------------------------------------------------------------------------- applying


def _content_changed(store: Store, entry_id: str, fp: dedup.Fingerprint) -> bool:
    return store.entry_for_content_hash(fp.content_hash) != entry_id


class Applier:
    """Writes fetched feeds into the store; the caller holds the transaction."""

    def __init__(self, store: Store, config: Config, rng: random.Random) -> None:
        self.store = store
        self.config = config
        self.rng = rng
        self._deduper: Deduper | None = None
        self.links: set[str] | None = None  # read when first needed
        self.hashes: set[bytes] | None = None
        # As they are now, not as the plans saw them: another process may have
        # fetched meanwhile (the daemon plans before it takes the writer lock).
        self.states = store.source_states()
        # Of the source being applied: what it delivered before, and (when
        # first needed) the kinds of key it knew each of its entries by.
        self._known: Mapping[str, KnownItem] = {}
        self._own: dict[str, set[str]] | None = None

    @property
    def deduper(self) -> Deduper:
        if self._deduper is None:
            from ..deduper import Deduper

            self._deduper = Deduper(self.store, self.config.dedup.threshold)
        return self._deduper

    def apply(self, fetched: Fetched) -> SourceReport:
        """One source: its entries and its new state, all or nothing."""
        with self.store.file_savepoint():
            return self._apply(fetched)

    def _apply(self, fetched: Fetched) -> SourceReport:
        plan = fetched.plan
        name = plan.source.name
        current = self.states.get(name)
        if current is not None and current.last_fetch is not None \
                and current.last_fetch > plan.started and current.url == stored_url(plan.source):
            return SourceReport(name, "raced", current.last_status, {},
                                "fetched by another process meanwhile; this fetch is dropped",
                                current.next_due)
        state = next_state(fetched, self.config.fetch, self.rng)
        counts: Counter[str] = Counter()
        self.store.save_source_state(state)  # first: the entries refer to it
        if fetched.meta is not None and fetched.error is None:
            known = self.store.known_items(name).get(name, {})  # the plan's may be stale
            feed_updated = state.feed_updated or fetched.fetched_at
            present = {known[p.key].entry_id for p in fetched.items if p.key in known}
            self._own = None
            self._known = known
            for prepared in fetched.items:
                # Each store call below is atomic on its own: no savepoint per item.
                decision = self._item(plan.source, prepared, known.get(prepared.key),
                                      feed_updated, fetched.fetched_at, present)
                counts[decision.value] += 1
            if fetched.filtered:
                counts["filtered"] += fetched.filtered
        return self._report(fetched, state, counts)

    def _report(self, fetched: Fetched, state: SourceState, counts: Counter[str]
                ) -> SourceReport:
        r = fetched.response
        name = fetched.plan.source.name
        if r.outcome is Outcome.GONE:
            log.error("%s: %s", name, state.disabled)
            return SourceReport(name, "gone", r.status, counts, state.disabled, None)
        if state.last_error is not None and state.errors:
            level = logging.ERROR if state.errors >= LOUD_AFTER else logging.WARNING
            log.log(level, "%s: %s (failure %d in a row; next try %s)", name, state.last_error,
                    state.errors, f"{state.next_due:%Y-%m-%d %H:%M:%S} UTC")
            return SourceReport(name, "failed", r.status, counts, state.last_error,
                                state.next_due)
        if r.permanent_url:
            log.warning("%s: moved permanently to %s; fetched from there from now on", name,
                        r.permanent_url)
        for note in fetched.notes:
            log.warning("%s: %s", name, note)
        if r.outcome is Outcome.NOT_MODIFIED:
            outcome = "not-modified"
        elif fetched.unchanged_body:
            outcome = "same-body"
        else:
            outcome = "fetched"
        return SourceReport(name, outcome, r.status, counts, "; ".join(fetched.notes) or None,
                            state.next_due)

    def _fingerprint(self, prepared: Prepared, article: Article) -> dedup.Fingerprint:
        if prepared.fingerprint is not None and article is prepared.article:
            return prepared.fingerprint
        from .. import dedup

        return dedup.fingerprint(article)

    def _item(self, source: SourceConfig, p: Prepared, known: KnownItem | None,
              feed_updated: datetime, now: datetime, present: set[str]) -> Decision:
        """What to do with one entry."""
        store = self.store
        item = SourceItem(source=source.name, key=p.key, original_id=p.item.guid,
                          original_link=p.item.link, norm_link=p.norm_link,
                          item_hash=p.item_hash, published=p.item.published,
                          updated=p.item.updated, feed_updated=feed_updated)
        if known is not None:
            if known.item_hash == p.item_hash:
                return Decision.UNCHANGED
            if not known.origin:  # another source's (or a seed) entry: only noted
                self._record(item, known.entry_id)
                return Decision.DUPLICATE
            return self._revise(p, item, known.entry_id, known.section, known.updated, now)
        if p.fingerprint is None:  # the plan had it as unchanged: a stale plan
            fp = self._fingerprint(p, p.article)
            p = replace(p, fingerprint=fp, band_keys=self.deduper.band_keys([fp])[0])
        band_keys = p.band_keys
        target = self._match(p, band_keys)
        if target is not None:
            entry_id, section, origin, how = target
            if origin == source.name and entry_id not in present \
                    and (how != "near" or self._may_revise(p.key, entry_id)):
                # Our own entry under a new key (a changed guid, an edited text).
                fp = self._fingerprint(p, p.article)
                if section == p.article.section and not _content_changed(store, entry_id, fp):
                    self._record(item, entry_id)
                    return Decision.DUPLICATE
                return self._revise(p, item, entry_id, section, None, now)
            if origin != source.name:
                self._record(item, entry_id)
                return Decision.DUPLICATE
        fp = self._fingerprint(p, p.article)
        link = p.item.link
        entry = store.add_remote_entry(p.article, item, link=link,
                                       content_html=p.item.content_html,
                                       content_hash=fp.content_hash, signature=fp.signature,
                                       encoded=p.encoded)
        self._added(p, fp)
        self.deduper.added(entry.version, band_keys)
        present.add(entry.id)
        return Decision.NEW

    def _may_revise(self, key: str, entry_id: str) -> bool:
        """Whether an item of the source with a text near that of the source's
        own entry ``entry_id`` is that entry revised.  A key of the kind the
        entry was known by (another guid, another link) is another item,
        however alike the texts: templated posts ("Weekly digest #12") are
        near duplicates of each other.  Only the text can follow an entry
        that the text identifies (hash keys), or one whose feed changed how
        it identifies its entries (guids dropped or added)."""
        if self._own is None:
            self._own = {}
            for known_key, known in self._known.items():
                self._own.setdefault(known.entry_id, set()).add(known_key.partition(":")[0])
        kind = key.partition(":")[0]
        return kind == "hash" or kind not in self._own.get(entry_id, ())

    def _match(self, p: Prepared, band_keys: list[int] | None
               ) -> tuple[str, tuple[str, ...], str | None, str] | None:
        """An entry that is the same article, and how it was found ("link",
        "exact" or "near"): by normalised link, else by the seeds' exact and
        near-duplicate tests, which only judge a body with enough text
        (:func:`dedup.enough_text`).  The store is asked only about links and
        hashes it holds (sets in memory): most entries are new."""
        from .. import dedup

        store = self.store
        if self.links is None:
            self.links = store.norm_links()
        if p.norm_link is not None and p.norm_link in self.links:
            found = store.entry_for_link(p.norm_link)
            if found is not None:
                return (*found, "link")
        if not dedup.enough_text(p.article.paragraphs):
            # A teaser, a "Comments" link, nothing: the text cannot tell two
            # items apart, and the link (above) did not make them one.
            return None
        fp = self._fingerprint(p, p.article)
        if self.hashes is None:
            self.hashes = store.content_hashes()
        if fp.content_hash in self.hashes:
            match = self.deduper.decide(p.article, fp, band_keys)
        else:  # no stored version has this text: only a near duplicate can match
            match = self.deduper.near(p.article, band_keys)
        if match.entry_id is None or match.decision is Decision.NEW:
            return None
        origin = store.entry_origin(match.entry_id)
        if origin is None:
            return None
        how = "exact" if match.decision is Decision.DUPLICATE else "near"
        return match.entry_id, origin[0], origin[1], how

    def _revise(self, p: Prepared, item: SourceItem, entry_id: str,
                section: tuple[str, ...], before: datetime | None, now: datetime) -> Decision:
        # An entry keeps its section; its own updated date if the source moved
        # it forward, else the time the change was seen.
        article = p.article if p.article.section == section else replace(p.article,
                                                                          section=section)
        fp = self._fingerprint(p, article)
        given = p.item.updated
        updated = given if given is not None and (before is None or given > before) else now
        entry = self.store.add_remote_revision(
            entry_id, article, item, link=p.item.link, content_html=p.item.content_html,
            updated=updated, content_hash=fp.content_hash, signature=fp.signature)
        self._added(p, fp)
        self.deduper.added(entry.version, self.deduper.band_keys([fp])[0])
        return Decision.REVISED

    def _record(self, item: SourceItem, entry_id: str) -> None:
        self.store.record_item(item, entry_id)
        if self.links is not None and item.norm_link is not None:
            self.links.add(item.norm_link)

    def _added(self, p: Prepared, fp: dedup.Fingerprint) -> None:
        if self.links is not None and p.norm_link is not None:
            self.links.add(p.norm_link)
        if self.hashes is not None:
            self.hashes.add(fp.content_hash)


__all__ = ["LOUD_AFTER", "Applier", "next_state"]
