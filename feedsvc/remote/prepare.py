"""Fetched feed bytes → entries ready to store: the store-free half of remote ingest.

:func:`prepare` parses a feed, gives each entry its key, drops what the
source's include/exclude rules leave out and dates nobody can believe, and
fingerprints what is new or changed (in the store's encoding and with its
LSH keys), so that the writer only decides and writes.  It is CPU work that
holds the GIL: a run of many sources hands it to worker processes
(:class:`Parsers`) while the main process fetches and stores.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import multiprocessing
import os
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..config import SourceConfig, usable_cores
from ..errors import FetchError
from ..models import Article
from ..store import Encoded
from .items import FeedMeta, RemoteItem
from .keys import assign_keys
from .parse import parse_feed

if TYPE_CHECKING:
    from .. import dedup

# feedsvc.dedup (numpy) is imported where entries are fingerprinted: a pass
# of 304s does not need it, and numpy costs a tenth of a second.

log = logging.getLogger(__name__)


#: Dates outside [EARLIEST, first seen + 1 day] are not believed (the W3C
#: validator calls them implausible): such a date is treated as missing.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- preparing (pure)


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


def plausible(moment: datetime | None, now: datetime) -> datetime | None:
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
    from .. import dedup, lsh

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
        published, updated = plausible(item.published, now), plausible(item.updated, now)
        if (published, updated) != (item.published, item.updated):
            implausible += 1
            item = replace(item, published=published, updated=updated)
        article = Article(section=source.section_for(item.categories), title=_title(item),
                          authors=item.authors, credit=None, paragraphs=item.text)
        kept.append((k.key, item, article, item_hash(item), k.norm_link))
    # Only what is new or changed is fingerprinted, all of it in one step.
    changed = [row[2] for row in kept if known.get(row[0]) != row[3]]
    fps = dedup.fingerprints(changed)
    fresh = zip(fps, lsh.fingerprint_band_keys(fps, threshold), strict=True)
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


# ----------------------------------------------------------------------------- worker processes

#: From this many sources on, feeds are parsed in worker processes.
POOL_FROM = 8


def _prepare_packed(source: SourceConfig, data: bytes, url: str, known: Mapping[str, bytes],
                    now: datetime, threshold: float, content_type: str | None
                    ) -> tuple[FeedMeta, list[tuple[object, ...]], int, list[str]]:
    """:func:`prepare`, in a worker process."""
    meta, items, filtered, notes = prepare(source, data, url, known, now, threshold,
                                           content_type)
    return meta, [p.pack() for p in items], filtered, notes


#: Processes that parse feeds for a run of many sources (see :class:`Parsers`).
PARSE_WORKERS = min(2, usable_cores())
#: How much lower the parsing processes' scheduling priority is than the
#: writer's: with as many workers as cores, the writer (the one process that
#: cannot be parallelised) gets a core whenever it can run, and the workers
#: use what it leaves.  Measured: 8 % faster than one worker at equal priority.
WORKER_NICENESS = 10


class Parsers:
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

    def __enter__(self) -> Parsers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            gc.unfreeze()


__all__ = [
    "EARLIEST",
    "POOL_FROM",
    "Parsers",
    "Prepare",
    "Prepared",
    "item_hash",
    "plausible",
    "prepare",
]
