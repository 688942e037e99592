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
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

from ..config import Config, usable_cores
from ..deduper import Deduper
from ..errors import InputError
from ..models import Decision, FileOutcome
from ..names import printable
from ..store import BulkWriter, Store
from .parse import ParseOptions
from .prepare import Prepared, prepared
from .scan import SeedFile, scan_seeds, stat_seeds

log = logging.getLogger(__name__)

#: Files whose LSH keys are computed in one vectorised step.
GROUP_SIZE = 256

SOURCE = "seeds"

#: Processes that read and parse for a large batch while this one decides and
#: writes.  Two keep the writer busy (each parses at about its pace); more only
#: compete with it for the cores.
PREPARE_WORKERS = min(2, usable_cores())


@dataclass(frozen=True, slots=True)
class IngestReport:
    counts: dict[str, int]
    rejected: tuple[FileOutcome, ...]
    duration: float

    @property
    def changed(self) -> bool:
        """True when the store's visible content changed (a publish is due)."""
        return bool(self.counts.get(Decision.NEW, 0) or self.counts.get(Decision.REVISED, 0))


def _unchanged(stat: tuple[int, int] | None, f: SeedFile) -> bool:
    # A file is re-read only when its size or mtime moved; rejected files too,
    # so a broken file is reported once, not on every run.
    return stat is not None and stat[0] == f.size and stat[1] == f.mtime_ns


def ingest_seeds(
    store: Store,
    config: Config,
    *,
    progress: Callable[[int], None] | None = None,
    paths: Collection[str] | None = None,
) -> IngestReport:
    """Ingest every new or changed seed file; report what happened to each.

    ``paths`` (absolute, as a folder watcher names them) limits the work to
    those files: nothing else is listed, stat-ed or looked up, so the cost
    does not grow with the folder.  The full scan stays the safety net."""
    started = time.monotonic()
    folder = config.seeds.folder
    if not folder.is_dir():
        raise InputError("seeds folder does not exist or is not a folder", where=folder)
    if paths is None:
        files = scan_seeds(folder, config.seeds.pattern)
        stats = store.file_stats()
    else:
        files = stat_seeds(folder, config.seeds.pattern, paths)
        stats = store.file_stats_of(f.relpath for f in files)
    todo = [f for f in files if not _unchanged(stats.get(f.relpath), f)]
    del stats
    counts: Counter[str] = Counter({Decision.UNCHANGED.value: len(files) - len(todo)})
    if progress and len(files) != len(todo):
        progress(len(files) - len(todo))
    options = ParseOptions.from_config(config.seeds)
    deduper = Deduper(store, config.dedup.threshold)
    rejected: list[FileOutcome] = []
    with store.run("ingest", lambda: dict(counts)):
        stream = iter(prepared(todo, options, workers=PREPARE_WORKERS))
        # Files stream through in groups (LSH keys are computed a group at a
        # time), ``batch`` files to a transaction; nothing holds a whole batch.
        # Large batches matter: the hash indexes take random inserts, and a
        # commit writes every index page its batch touched.
        batch = config.store.batch_files
        more = bool(todo)
        while more:
            done = 0
            with store.bulk() as writer:
                for group in _chunks(itertools.islice(stream, batch), GROUP_SIZE):
                    keys = deduper.band_keys([p.fingerprint for p in group])
                    for prep, band_keys in zip(group, keys, strict=True):
                        outcome = _ingest_one(writer, deduper, prep, band_keys)
                        f = prep.file
                        # A failed read says nothing about the content: what
                        # was recorded before stays, so the next scan retries.
                        if not prep.unread:
                            writer.record_file(f.relpath, size=f.size, mtime_ns=f.mtime_ns,
                                               raw_hash=prep.raw_hash, outcome=outcome)
                        counts[outcome.decision.value] += 1
                        if outcome.decision is Decision.REJECTED:
                            rejected.append(outcome)
                        _log_outcome(outcome)
                    done += len(group)
            if progress:  # after the commit: a daemon that is stopping stops here
                progress(done)
            more = done == batch
    return IngestReport(
        counts=dict(counts),
        rejected=tuple(rejected),
        duration=time.monotonic() - started,
    )


def _ingest_one(writer: BulkWriter, deduper: Deduper, prep: Prepared,
                keys: list[int] | None) -> FileOutcome:
    relpath = prep.file.relpath
    # Byte-identical to a file already ingested: a duplicate, whatever it parses to.
    known = writer.entry_for_raw_hash(prep.raw_hash) if prep.raw_hash else None
    if known is not None:
        return FileOutcome(relpath, Decision.DUPLICATE, entry_id=known)
    article, fp, encoded = prep.article, prep.fingerprint, prep.encoded
    if article is None or fp is None or encoded is None:
        return FileOutcome(relpath, Decision.REJECTED, message=prep.problem)
    match = deduper.decide(article, fp, keys, via=writer)
    if match.decision is Decision.DUPLICATE:
        return FileOutcome(relpath, Decision.DUPLICATE, entry_id=match.entry_id)
    if match.decision is Decision.REVISED:
        assert match.entry_id is not None
        entry_id, version = writer.add_revision(
            match.entry_id, article, content_hash=fp.content_hash, encoded=encoded,
            source=SOURCE)
    else:
        entry_id, version = writer.add_entry(
            article, content_hash=fp.content_hash, encoded=encoded, source=SOURCE)
    deduper.added(version, keys, via=writer)
    return FileOutcome(relpath, match.decision, entry_id=entry_id)


def _log_outcome(outcome: FileOutcome) -> None:
    # A file name may hold anything but "/" and NUL: a newline or an escape
    # sequence must not make a log line of its own or reach a terminal.
    path = printable(outcome.path)
    if outcome.decision is Decision.REJECTED:
        log.warning("rejected %s: %s", path, outcome.message)
    elif outcome.decision is Decision.DUPLICATE:
        log.info("duplicate %s of %s", path, outcome.entry_id)
    else:
        log.debug("%s %s → %s", outcome.decision.value, path, outcome.entry_id)


def _chunks(items: Iterable[Prepared], size: int) -> Iterator[list[Prepared]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


__all__ = ["IngestReport", "ingest_seeds"]
