"""The library API: ingest a seeds folder into the store, then publish.

This is the glue between the pure core (``seeds.parse_seed``, ``dedup``) and
the edges (files, the store).  The CLI and the scheduler call these
functions; so can any program that imports feedsvc.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from . import dedup
from .config import Config
from .errors import InputError
from .models import Article, Decision, FileOutcome
from .prepare import Prepared, prepared
from .seeds import ParseOptions, SeedFile, scan_seeds
from .store import FileState, Store

log = logging.getLogger(__name__)

#: Files per transaction.  A kill -9 loses at most this many files' work,
#: which the next run redoes; larger batches amortise the commit.
BATCH_SIZE = 500

SOURCE = "seeds"


@dataclass(frozen=True, slots=True)
class IngestReport:
    counts: dict[str, int]
    rejected: tuple[FileOutcome, ...]
    duration: float
    outcomes: tuple[FileOutcome, ...] = field(default=(), repr=False)

    @property
    def changed(self) -> bool:
        """True when the store's visible content changed (a publish is due)."""
        return bool(self.counts.get(Decision.NEW, 0) or self.counts.get(Decision.REVISED, 0))


def _unchanged(state: FileState | None, f: SeedFile) -> bool:
    # A file is re-read only when its size or mtime moved; rejected files too,
    # so a broken file is reported once, not on every run.
    return state is not None and state.size == f.size and state.mtime_ns == f.mtime_ns


class _Deduper:
    """Exact and near-duplicate lookups against the store.

    The LSH index is built lazily, the first time a run meets a file that is
    neither unchanged nor an exact duplicate, so a re-run over an unchanged
    folder never pays for loading it.
    """

    def __init__(self, store: Store, threshold: float) -> None:
        self.store = store
        self.threshold = threshold
        self._index: dedup.LshIndex | None = None

    @property
    def index(self) -> dedup.LshIndex:
        if self._index is None:
            keys, sigs = self.store.load_signatures()
            self._index = dedup.LshIndex.from_arrays(keys, sigs, self.threshold)
        return self._index

    def decide(self, article: Article, fp: dedup.Fingerprint) -> dedup.Match:
        exact = self.store.entry_for_content_hash(fp.content_hash)
        if exact is not None:
            return dedup.decide(exact, (), self.threshold)
        bodies = self.store.version_bodies(self.index.query(fp.signature))
        return dedup.decide(None, dedup.verify(article, bodies), self.threshold)


def ingest_seeds(
    store: Store,
    config: Config,
    *,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest every new or changed seed file; report what happened to each."""
    started = time.monotonic()
    folder = config.seeds.folder
    if not folder.is_dir():
        raise InputError("seeds folder does not exist or is not a folder", where=folder)
    files = scan_seeds(folder, config.seeds.pattern)
    states = store.file_states()
    todo = [f for f in files if not _unchanged(states.get(f.relpath), f)]
    counts: Counter[str] = Counter({Decision.UNCHANGED.value: len(files) - len(todo)})
    if progress and len(files) != len(todo):
        progress(len(files) - len(todo))
    options = ParseOptions.from_config(config.seeds)
    deduper = _Deduper(store, config.dedup.threshold)
    outcomes: list[FileOutcome] = []
    with store.run("ingest", lambda: dict(counts)):
        stream = prepared(todo, options, workers=1)
        for chunk in _chunks(stream, BATCH_SIZE):
            with store.batch():
                for prep in chunk:
                    f = prep.file
                    with store.file_savepoint():
                        outcome = _ingest_one(store, deduper, prep)
                        store.record_file(
                            f.relpath,
                            size=f.size,
                            mtime_ns=f.mtime_ns,
                            raw_hash=prep.raw_hash,
                            outcome=outcome,
                        )
                    counts[outcome.decision.value] += 1
                    outcomes.append(outcome)
                    _log_outcome(outcome)
            if progress:
                progress(len(chunk))
    rejected = tuple(o for o in outcomes if o.decision is Decision.REJECTED)
    return IngestReport(
        counts=dict(counts),
        rejected=rejected,
        duration=time.monotonic() - started,
        outcomes=tuple(outcomes),
    )


def _ingest_one(store: Store, deduper: _Deduper, prep: Prepared) -> FileOutcome:
    relpath = prep.file.relpath
    # Byte-identical to a file already ingested: a duplicate, whatever it parses to.
    known = store.entry_for_raw_hash(prep.raw_hash) if prep.raw_hash else None
    if known is not None:
        return FileOutcome(relpath, Decision.DUPLICATE, entry_id=known)
    if prep.article is None or prep.fingerprint is None:
        return FileOutcome(relpath, Decision.REJECTED, message=prep.problem)
    article, fp = prep.article, prep.fingerprint
    match = deduper.decide(article, fp)
    if match.decision is Decision.DUPLICATE:
        return FileOutcome(relpath, Decision.DUPLICATE, entry_id=match.entry_id)
    if match.decision is Decision.REVISED:
        assert match.entry_id is not None
        entry = store.add_revision(
            match.entry_id,
            article,
            content_hash=fp.content_hash,
            signature=fp.signature,
            source=SOURCE,
        )
    else:
        entry = store.add_entry(
            article, content_hash=fp.content_hash, signature=fp.signature, source=SOURCE
        )
    deduper.index.add(entry.version, fp.signature)
    return FileOutcome(relpath, match.decision, entry_id=entry.id)


def _log_outcome(outcome: FileOutcome) -> None:
    if outcome.decision is Decision.REJECTED:
        log.warning("rejected %s: %s", outcome.path, outcome.message)
    elif outcome.decision is Decision.DUPLICATE:
        log.info("duplicate %s of %s", outcome.path, outcome.entry_id)
    else:
        log.debug("%s %s → %s", outcome.decision.value, outcome.path, outcome.entry_id)


def _chunks(items: Iterable[Prepared], size: int) -> Iterator[list[Prepared]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def open_store(config: Config, *, readonly: bool = False) -> Store:
    return Store.open(config.store.path, site=config.site, readonly=readonly)
