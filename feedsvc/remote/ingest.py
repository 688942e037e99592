"""Remote sources: fetch the feeds that are due, ingest their entries.

Three steps, so that no network wait ever holds the writer lock:

1. :func:`read_plans` (read only): which sources are due, with the
   validators and entry keys the store holds for each;
2. :func:`fetch_plans` (no store at all): fetch, and in the same worker
   thread parse and prepare each feed (sanitized HTML, keys, fingerprints of
   the entries that are new or changed);
3. :func:`apply_fetched` (writes; each source all or nothing in a savepoint,
   many sources to a transaction): each entry is unchanged, a revision, a
   duplicate of an entry that arrived another way, or new; then the source's
   state (validators, errors, next due time).

:func:`ingest_sources` runs the three with step 3 overlapping step 2.

Identity of an entry within a source is its key (:func:`remote.assign_keys`).
An entry new to a source is first looked up by its normalised link, then by
the seeds' own exact and near-duplicate tests (only for a body with enough
text to judge: :func:`dedup.enough_text`); a match from another source (or a
seed) records this source beside it and publishes nothing new.  A match from
the same source is a revision when found by link or by the exact text; a
near-duplicate text only revises an entry the text identifies (hash keys) or
one whose feed changed its kind of key: another guid is another item.  Only the source
an entry came from revises it, so two feeds carrying one article never take
turns rewriting it.  Nothing is ever deleted: an entry that leaves its feed
stays in the store.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import multiprocessing
import os
import queue
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import Clock, system_clock
from ..config import Config, FetchConfig, SourceConfig, usable_cores
from ..errors import FetchError, StoreError
from ..models import Article, Decision
from ..store import Encoded, KnownItem, SourceItem, SourceState, Store, open_store
from ..urls import masked, without_credentials
from .fetch import (
    Credentials,
    Fetcher,
    Outcome,
    Request,
    Response,
    backoff,
    effective_interval,
    user_agent,
)
from .parse import (
    FeedMeta,
    RemoteItem,
    assign_keys,
    canonical_id,
    canonical_url,
    parse_feed,
)

if TYPE_CHECKING:
    from .. import dedup
    from ..deduper import Deduper

# feedsvc.dedup (numpy) and the seeds pipeline are imported where entries are
# parsed or stored: a pass of 304s needs neither, and numpy costs a tenth of a second.

log = logging.getLogger(__name__)

#: Dates outside [EARLIEST, first seen + 1 day] are not believed (the W3C
#: validator calls them implausible): such a date is treated as missing.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)

#: A fetch that failed this many times in a row is logged as an error, not a warning.
LOUD_AFTER = 3


# ----------------------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class Plan:
    """A source that is due, with what the store knows of it."""

    source: SourceConfig
    state: SourceState
    known: Mapping[str, bytes]  # key -> item hash, of what the source delivered before
    started: datetime  # when the plan was read: a fetch by another process after it wins

    @property
    def request(self) -> Request:
        s = self.state
        # The credentials of the configured URL go to its origin only, also
        # after a permanent move (a move to another host does not get them).
        return Request(without_credentials(s.fetch_url), s.etag, s.last_modified,
                       Credentials.of(self.source.url))


@dataclass(frozen=True, slots=True)
class Prepared:
    """One entry of a fetched feed, ready to store.  An entry that is new or
    changed comes fingerprinted, in the store's encoding and with its LSH
    keys, all computed beside the parsing: the writer only decides and writes."""

    key: str
    item: RemoteItem
    article: Article
    item_hash: bytes
    norm_link: str | None  # only when the link can identify the article
    fingerprint: dedup.Fingerprint | None  # None: unchanged since last time, not computed
    encoded: Encoded | None = None  # with the fingerprint
    band_keys: list[int] | None = None  # with the fingerprint; None also for an empty body

    def pack(self) -> tuple[object, ...]:
        """Plain values for the trip from a worker process: pickling the
        dataclasses themselves costs three times as much.  The body travels
        once as text and, when new or changed, once more as the store's JSON:
        unpickling strings is a copy, decoding JSON ten times that."""
        i, a, fp, enc = self.item, self.article, self.fingerprint, self.encoded
        return (self.key, i.guid, i.link, i.title, i.authors, i.categories, i.published,
                i.updated, i.content_html, i.text, a.section, a.title, self.item_hash,
                self.norm_link, fp.content_hash if fp else None,
                enc.authors if enc else None, enc.paragraphs if enc else None,
                enc.signature if enc else None, self.band_keys)

    @classmethod
    def unpack(cls, v: tuple[Any, ...]) -> Prepared:
        (key, guid, link, title, authors, categories, published, updated, content, text,
         section, article_title, item_hash, norm_link, content_hash, authors_json, paragraphs,
         signature, band_keys) = v
        from .. import dedup

        item = RemoteItem(guid, link, title, authors, categories, published, updated, content,
                          text)
        fp = enc = None
        if content_hash is not None:
            fp = dedup.Fingerprint(content_hash, dedup.signatures_from_bytes(signature, 1)[0])
            enc = Encoded(authors_json, paragraphs, signature)
        return cls(key, item, Article(section, article_title, authors, None, text), item_hash,
                   norm_link, fp, enc, band_keys)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A plan after its fetch: the response and, for a new body, the feed."""

    plan: Plan
    response: Response
    fetched_at: datetime
    body_hash: bytes | None = None
    meta: FeedMeta | None = None
    items: tuple[Prepared, ...] = ()
    filtered: int = 0
    notes: tuple[str, ...] = ()
    error: str | None = None  # the body could not be used (invalid XML, refused …)

    @property
    def unchanged_body(self) -> bool:
        return self.body_hash is not None and self.body_hash == self.plan.state.body_hash


@dataclass(frozen=True, slots=True)
class SourceReport:
    name: str
    outcome: str  # fetched, not-modified, same-body, failed, gone, disabled, not-due, raced
    status: int | None
    counts: Mapping[str, int]
    message: str | None
    next_due: datetime | None

    @property
    def changed(self) -> bool:
        return bool(self.counts.get(Decision.NEW, 0) or self.counts.get(Decision.REVISED, 0))


@dataclass(frozen=True, slots=True)
class SourcesReport:
    sources: tuple[SourceReport, ...]
    duration: float
    outcomes: Mapping[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.sources)

    @property
    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for s in self.sources:
            total.update(s.counts)
        return dict(total)

    @property
    def failed(self) -> tuple[SourceReport, ...]:
        return tuple(s for s in self.sources if s.outcome in ("failed", "gone"))


# ----------------------------------------------------------------------------- planning


def read_plans(store: Store | None, config: Config, *, names: Iterable[str] | None = None,
               now: datetime, force: bool = False) -> tuple[list[Plan], list[SourceReport]]:
    """The sources to fetch now (all of them with ``force``, except disabled
    ones), and reports for those skipped.  ``store`` None: nothing known yet."""
    wanted = None if names is None else set(names)
    states = store.source_states() if store is not None else {}
    due: list[tuple[SourceConfig, SourceState]] = []
    skipped: list[SourceReport] = []
    for source in config.sources:
        if wanted is not None and source.name not in wanted:
            continue
        state = states.get(source.name)
        if state is None or state.url != stored_url(source):
            state = SourceState(name=source.name, url=stored_url(source))  # new, or moved
        if state.disabled:
            skipped.append(SourceReport(source.name, "disabled", state.last_status, {},
                                        state.disabled, None))
            continue
        if not force and state.next_due is not None and state.next_due > now:
            skipped.append(SourceReport(source.name, "not-due", state.last_status, {}, None,
                                        state.next_due))
            continue
        due.append((source, state))
    # One query for all when many are due, one per source when few are.
    everything = store.known_hashes(None) if store is not None and len(due) > 20 else None
    plans: list[Plan] = []
    for source, state in due:
        if everything is not None:
            known = everything.get(source.name, {})
        else:
            known = store.known_hashes(source.name).get(source.name, {}) if store else {}
        plans.append(Plan(source, state, known, now))
    return plans, skipped


# ----------------------------------------------------------------------------- preparing (pure)


def item_hash(item: RemoteItem) -> bytes:
    """Changes whenever anything published of the item changes, dates included."""
    parts = (item.title, item.link or "", item.content_html, "\x1f".join(item.authors),
             "\x1f".join(item.categories), item.published.isoformat() if item.published else "",
             item.updated.isoformat() if item.updated else "")
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16, person=b"feedsvc-item1").digest()


def _title(item: RemoteItem) -> str:
    """The item's title; an untitled item is called by its first words (or its link)."""
    if item.title:
        return item.title
    if item.text:
        first = item.text[0]
        if len(first) <= 80:
            return first
        head, _, _ = first[:80].rpartition(" ")
        return (head or first[:80]) + "…"
    return item.link or "(untitled)"


def stored_url(source: SourceConfig) -> str:
    """The source's URL as the store keeps it: without credentials, which
    are read from the configuration for each fetch and written nowhere."""
    return without_credentials(source.url)


def _plausible(moment: datetime | None, now: datetime) -> datetime | None:
    if moment is None or EARLIEST <= moment <= now + timedelta(days=1):
        return moment
    return None


def _wanted(source: SourceConfig, item: RemoteItem) -> bool:
    texts = [item.title, *item.categories]
    if source.include and not any(re.search(p, t) for p in source.include for t in texts):
        return False
    return not any(re.search(p, t) for p in source.exclude for t in texts)


Prepare = Callable[[SourceConfig, bytes, str, Mapping[str, bytes], datetime, float, str | None],
                   tuple[FeedMeta, list[Prepared], int, list[str]]]


def prepare(source: SourceConfig, data: bytes, url: str, known: Mapping[str, bytes],
            now: datetime, threshold: float, content_type: str | None = None
            ) -> tuple[FeedMeta, list[Prepared], int, list[str]]:
    """Feed bytes → entries ready to store (pure apart from CPU).  ``known``
    maps the keys stored before to their item hashes: an unchanged entry is
    not fingerprinted.  ``threshold`` is the near-duplicate threshold the LSH
    keys are cut for; ``content_type`` the one the server sent, if any.
    Raises :class:`FetchError` for a document that is refused or not a feed."""
    from .. import dedup

    parsed = parse_feed(data, url, content_type)
    notes = list(parsed.warnings)
    keyed, _mode, key_notes = assign_keys(parsed.items)
    notes += key_notes
    kept: list[tuple[str, RemoteItem, Article, bytes, str | None]] = []
    filtered = implausible = 0
    for k in keyed:
        item = k.item
        if not _wanted(source, item):
            filtered += 1
            continue
        published, updated = _plausible(item.published, now), _plausible(item.updated, now)
        if (published, updated) != (item.published, item.updated):
            implausible += 1
            item = replace(item, published=published, updated=updated)
        article = Article(section=source.section_for(item.categories), title=_title(item),
                          authors=item.authors, credit=None, paragraphs=item.text)
        kept.append((k.key, item, article, item_hash(item), k.norm_link))
    # Only what is new or changed is fingerprinted, all of it in one step.
    changed = [row[2] for row in kept if known.get(row[0]) != row[3]]
    fps = dedup.fingerprints(changed)
    fresh = zip(fps, dedup.fingerprint_band_keys(fps, threshold), strict=True)
    out = []
    for key, item, article, h, link in kept:
        if known.get(key) == h:
            out.append(Prepared(key, item, article, h, link, None))
            continue
        fp, band_keys = next(fresh)
        out.append(Prepared(key, item, article, h, link, fp, Encoded.of(article, fp.signature),
                            band_keys))
    if implausible:
        notes.append(f"{implausible} entr{'y' if implausible == 1 else 'ies'} with a date before "
                     "1990 or in the future: the date is treated as missing")
    return parsed.meta, out, filtered, notes


def fetch_one(fetcher: Fetcher, plan: Plan, clock: Clock, threshold: float,
              parse: Prepare = prepare) -> Fetched:
    """Fetch and prepare one source (runs in a worker thread; no store)."""
    response = fetcher.fetch(plan.request)
    now = clock()
    if response.outcome is not Outcome.OK or response.body is None:
        return Fetched(plan, response, now)
    body_hash = hashlib.sha256(response.body).digest()
    if body_hash == plan.state.body_hash:
        return Fetched(plan, response, now, body_hash)  # same bytes: nothing to parse
    try:
        meta, items, filtered, notes = parse(plan.source, response.body, response.url,
                                             plan.known, now, threshold, response.content_type)
    except FetchError as exc:
        return Fetched(plan, response, now, body_hash, error=exc.message)
    except Exception as exc:  # a bug met on one feed: recorded and retried, the run goes on
        log.exception("%s: internal error while reading the feed", plan.source.name)
        return Fetched(plan, response, now, body_hash,
                       error=f"internal error while reading the feed: {type(exc).__name__}")
    return Fetched(plan, response, now, body_hash, meta, tuple(items), filtered, tuple(notes))


def fetch_plans(plans: Sequence[Plan], config: Config, *, clock: Clock = system_clock,
                done: Callable[[int, Fetched], None] | None = None,
                cancel: threading.Event | None = None,
                parsers: _Parsers | None = None) -> list[Fetched]:
    """Fetch and prepare every plan (bounded concurrency, no store): the
    results, in the plans' order.  With ``done``, each plan's index and result
    go to it instead, as they are ready, from a worker thread, and the list
    returned is empty: a run of hundreds of feeds would otherwise hold every
    parsed entry until the last one is stored.  Once ``cancel`` is set, the
    fetches not yet begun are skipped."""
    if not plans:
        return []  # not even a client: building one costs a third of a second
    results: list[Fetched | None] = [None] * len(plans)
    parse = parsers.prepare if parsers is not None else prepare
    with Fetcher(config.fetch, user_agent(config.site.base_url)) as fetcher:

        def one(index: int) -> None:
            if cancel is not None and cancel.is_set():
                return
            fetched = fetch_one(fetcher, plans[index], clock, config.dedup.threshold, parse)
            if done is None:
                results[index] = fetched
            else:
                done(index, fetched)

        fetcher.run_all([p.request.url for p in plans], one)
    return [r for r in results if r is not None]


#: From this many sources on, feeds are parsed in worker processes.
POOL_FROM = 8


def _prepare_packed(source: SourceConfig, data: bytes, url: str, known: Mapping[str, bytes],
                    now: datetime, threshold: float, content_type: str | None
                    ) -> tuple[FeedMeta, list[tuple[object, ...]], int, list[str]]:
    """:func:`prepare`, in a worker process."""
    meta, items, filtered, notes = prepare(source, data, url, known, now, threshold,
                                           content_type)
    return meta, [p.pack() for p in items], filtered, notes


#: Processes that parse feeds for a run of many sources (see :class:`_Parsers`).
PARSE_WORKERS = min(2, usable_cores())
#: How much lower the parsing processes' scheduling priority is than the
#: writer's: with as many workers as cores, the writer (the one process that
#: cannot be parallelised) gets a core whenever it can run, and the workers
#: use what it leaves.  Measured: 8 % faster than one worker at equal priority.
WORKER_NICENESS = 10


class _Parsers:
    """Where feeds are parsed.  Parsing, sanitizing and fingerprinting are
    CPU work that holds the GIL, so a run of many sources hands them to
    worker processes (one per core, at a lower priority than this one) while
    this process fetches and stores; a run of a few does them in its fetching
    threads.

    Workers are forked, and only from a process that has no other thread yet
    (forking a threaded process can copy a held lock); a daemon, which runs
    one source per job, parses in-process.
    """

    def __init__(self, count: int) -> None:
        self._pool: ProcessPoolExecutor | None = None
        if count < POOL_FROM or PARSE_WORKERS < 2 or threading.active_count() > 1 \
                or "fork" not in multiprocessing.get_all_start_methods():
            return
        self._pool = ProcessPoolExecutor(max_workers=PARSE_WORKERS,
                                         mp_context=multiprocessing.get_context("fork"),
                                         initializer=os.nice, initargs=(WORKER_NICENESS,))
        # Everything this process holds so far (modules, the config, the
        # plans) stays for the whole run: frozen, the collector leaves it alone
        # until the run ends.  A full collection over it took 50 ms of a run
        # of 500 feeds, and each one writes to every page of it, which the
        # forked workers share until then.
        gc.freeze()
        # With "fork" every worker starts at the first submit, here, while
        # this is still the only thread.
        try:
            self._pool.submit(int).result()
        except BaseException:
            gc.unfreeze()
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise
        log.debug("parsing %d feeds in %d worker process(es)", count, PARSE_WORKERS)

    def prepare(self, source: SourceConfig, data: bytes, url: str, known: Mapping[str, bytes],
                now: datetime, threshold: float, content_type: str | None
                ) -> tuple[FeedMeta, list[Prepared], int, list[str]]:
        if self._pool is None:
            return prepare(source, data, url, known, now, threshold, content_type)
        try:
            meta, packed, filtered, notes = self._pool.submit(
                _prepare_packed, source, data, url, known, now, threshold,
                content_type).result()
        except BrokenProcessPool:
            raise FetchError("the parsing process died", where=url) from None
        return meta, [Prepared.unpack(p) for p in packed], filtered, notes

    def __enter__(self) -> _Parsers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            gc.unfreeze()


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
                        feed_updated=_plausible(meta.updated, now),
                        note="; ".join(fetched.notes) or None)
    return state


# ----------------------------------------------------------------------------- applying


def _content_changed(store: Store, entry_id: str, fp: dedup.Fingerprint) -> bool:
    return store.entry_for_content_hash(fp.content_hash) != entry_id


class _Applier:
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
        self.deduper.index.add_keys(entry.version, band_keys)
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
        self.deduper.index.add(entry.version, fp.signature)
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


def _summarise(reports: Sequence[SourceReport], skipped: Sequence[SourceReport],
               started: float) -> SourcesReport:
    everything = tuple(sorted([*reports, *skipped], key=lambda r: r.name))
    outcomes = Counter(r.outcome for r in everything)
    return SourcesReport(everything, time.monotonic() - started, dict(outcomes))


def _run_counts(reports: Iterable[SourceReport]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for r in reports:
        total.update(r.counts)
        total[f"sources {r.outcome}"] += 1
    return dict(total)


def fetch_sources(config: Config, names: Iterable[str], *, clock: Clock = system_clock
                  ) -> tuple[list[Fetched], list[SourceReport]]:
    """Steps 1 and 2 for the named sources, with the store only read (the
    daemon does this before it takes the writer lock)."""
    store = read_store(config)
    try:
        plans, skipped = read_plans(store, config, names=names, now=clock())
    finally:
        if store is not None:
            store.close()
    return fetch_plans(plans, config, clock=clock), skipped


#: Sources stored per transaction: a commit costs milliseconds, as much as
#: storing a 304's state; each source still stands or falls alone (a savepoint).
PER_TRANSACTION = 20
#: At most this many sources to a transaction when they are stored as they arrive.
MAX_PER_TRANSACTION = 100


def _groups(items: Iterable[Fetched], size: int) -> Iterator[list[Fetched]]:
    group: list[Fetched] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def apply_fetched(store: Store, config: Config, fetched: Iterable[Fetched],
                  skipped: Sequence[SourceReport] = (), *, rng: random.Random | None = None,
                  progress: Callable[[int], None] | None = None) -> SourcesReport:
    """Step 3: store every fetched source as they come, :data:`PER_TRANSACTION`
    to a transaction (gathered before it opens: no transaction waits for the
    network)."""
    return _apply_groups(store, config, _groups(fetched, PER_TRANSACTION), skipped, rng=rng,
                         progress=progress)


def _apply_groups(store: Store, config: Config, groups: Iterable[Sequence[Fetched]],
                  skipped: Sequence[SourceReport] = (), *, rng: random.Random | None = None,
                  progress: Callable[[int], None] | None = None) -> SourcesReport:
    """:func:`apply_fetched`, one transaction per group."""
    started = time.monotonic()
    applier = _Applier(store, config, rng or random.Random())
    reports: list[SourceReport] = []
    with store.run("feeds", lambda: _run_counts(reports)):
        for group in groups:
            with store.batch():
                done = [applier.apply(f) for f in group]
            reports += done
            if progress is not None:
                progress(len(done))
    return _summarise(reports, skipped, started)


# ----------------------------------------------------------------------------- all at once


def ingest_sources(store: Store, config: Config, *, names: Iterable[str] | None = None,
                   force: bool = False, clock: Clock = system_clock,
                   rng: random.Random | None = None,
                   progress: Callable[[int], None] | None = None) -> SourcesReport:
    """Fetch every due source (``force``: every enabled one) and store what it
    brought; the store is written while later sources are still being fetched."""
    plans, skipped = read_plans(store, config, names=names, now=clock(), force=force)
    arrived: queue.Queue[tuple[int, Fetched] | BaseException | None] = queue.Queue()
    cancel = threading.Event()

    def fetch_all() -> None:
        try:
            fetch_plans(plans, config, clock=clock, done=lambda i, f: arrived.put((i, f)),
                        cancel=cancel, parsers=parsers)
        except BaseException as exc:  # handed to the writing thread to raise there
            arrived.put(exc)
        finally:
            arrived.put(None)

    def arrivals() -> Iterator[list[Fetched]]:
        # Stored in the order of the configuration, whatever order the fetches
        # end in: which source an entry is first seen in (its origin) must not
        # depend on network timing.  Later ones wait in memory meanwhile.
        # Each group (one transaction) is what is ready when the writer asks,
        # from PER_TRANSACTION sources up: a writer slower than the network
        # commits rarely, a faster one waits only for that many -- until fewer
        # than that are still to come: then it stores what is ready at once,
        # so that it does not store the last group alone after the others end.
        waiting: dict[int, Fetched] = {}
        following = 0
        finished = False
        ready: list[Fetched] = []
        while not finished:
            got = arrived.get()
            while True:
                if got is None:
                    finished = True
                    break
                if isinstance(got, BaseException):
                    raise got
                waiting[got[0]] = got[1]
                try:
                    got = arrived.get_nowait()
                except queue.Empty:
                    break
            while following in waiting:
                ready.append(waiting.pop(following))
                following += 1
            if ready and (len(ready) >= PER_TRANSACTION
                          or len(plans) - following < PER_TRANSACTION):
                yield from _groups(ready, MAX_PER_TRANSACTION)
                ready = []
        ready += (waiting[i] for i in sorted(waiting))  # after a cancel: what came
        yield from _groups(ready, MAX_PER_TRANSACTION)

    worker = threading.Thread(target=fetch_all, name="feedsvc-fetch-all", daemon=True)
    with _Parsers(len(plans)) as parsers:  # before the first thread: it may fork
        worker.start()
        try:
            return _apply_groups(store, config, arrivals(), skipped, rng=rng,
                                 progress=progress)
        finally:
            cancel.set()  # stopped early: the fetches not begun are not begun
            worker.join()


def enable_source(store: Store, name: str) -> bool:
    """Re-enable a source disabled by a 410; True if it was disabled."""
    return store.enable_source(name)


# ----------------------------------------------------------------------------- listing


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One source as ``feedsvc sources`` shows it."""

    config: SourceConfig
    state: SourceState | None


def source_lines(config: Config, store: Store | None) -> list[SourceLine]:
    states = store.source_states() if store is not None else {}
    lines = []
    for source in config.sources:
        state = states.get(source.name)
        if state is not None and state.url != stored_url(source):
            state = None  # pointed elsewhere: starts afresh on the next fetch
        lines.append(SourceLine(source, state))
    return lines


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if moment else "never"


def render_sources(lines: Sequence[SourceLine], now: datetime) -> str:
    """``feedsvc sources`` as plain text, one block per source."""
    if not lines:
        return "no remote sources configured ([[sources]] in config.toml)"
    out: list[str] = []
    for line in lines:
        cfg, st = line.config, line.state
        section = "(each entry's category)" if cfg.section is None else (
            " / ".join(cfg.section) or "(root)")
        out.append(f"{cfg.name}  →  {section}")
        if st is None:
            out.append(f"  url:          {masked(cfg.url)}")
            out.append("  last fetch:   never (due now)")
            continue
        if st.current_url:
            out.append(f"  url:          {masked(st.current_url)}  (moved permanently from "
                       f"{masked(cfg.url)})")
        else:
            out.append(f"  url:          {masked(cfg.url)}")
        status = str(st.last_status) if st.last_status is not None else "-"
        out.append(f"  last fetch:   {_when(st.last_fetch)}, status {status}")
        out.append(f"  entries:      {st.entries}")
        out.append(f"  errors:       {st.errors} in a row" + (f": {st.last_error}"
                                                               if st.last_error else ""))
        if st.disabled:
            out.append(f"  DISABLED:     {st.disabled}")
        else:
            due = st.next_due
            left = "" if due is None or due > now else " (due now)"
            interval = f", every {st.interval:g} s" if st.interval else ""
            out.append(f"  next due:     {_when(due)}{left}{interval}")
        if st.note:
            out.append(f"  note:         {st.note}")
    return "\n".join(out)


def sources_json(lines: Sequence[SourceLine]) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    for line in lines:
        st = line.state
        docs.append({
            "name": line.config.name,
            "url": masked(line.config.url),
            "current_url": masked(st.current_url) if st and st.current_url else None,
            "section": None if line.config.section is None else list(line.config.section),
            "last_fetch": st.last_fetch.isoformat() if st and st.last_fetch else None,
            "status": st.last_status if st else None,
            "entries": st.entries if st else 0,
            "errors": st.errors if st else 0,
            "last_error": st.last_error if st else None,
            "next_due": st.next_due.isoformat() if st and st.next_due else None,
            "disabled": st.disabled if st else None,
            "note": st.note if st else None,
        })
    return docs


def read_store(config: Config) -> Store | None:
    """The store opened read-only, or None when there is none yet."""
    if not Path(config.store.path).is_file():
        return None
    try:
        return open_store(config, readonly=True)
    except StoreError:
        return None


__all__ = [
    "Fetched",
    "Plan",
    "Prepared",
    "SourceLine",
    "SourceReport",
    "SourcesReport",
    "apply_fetched",
    "enable_source",
    "fetch_one",
    "fetch_plans",
    "fetch_sources",
    "ingest_sources",
    "item_hash",
    "next_state",
    "prepare",
    "read_plans",
    "read_store",
    "render_sources",
    "source_lines",
    "sources_json",
]
