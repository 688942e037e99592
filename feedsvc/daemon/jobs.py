"""The jobs ``feedsvc run`` schedules: what each one does and what it reports.

A job's work is a callable on an open store, the configuration and a
:data:`Checkpoint`; it returns a :class:`JobResult` (did the store change,
a summary for the log and the heartbeat, the source's own next due time).
Sources come from :data:`SOURCE_FACTORIES`: a factory turns the
configuration into :class:`SourceJob` values, so a new kind of source is one
more factory.  The publish job's work is :func:`run_publish`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..config import Config, SourceConfig
from ..errors import EXIT_SKIPPED
from ..publish.publisher import publish
from ..remote.ingest import SourcesReport, apply_fetched, fetch_sources, ingest_sources
from ..seeds.ingest import ingest_seeds
from ..store import Store

PUBLISH = "publish"
SEEDS = "seeds"

#: A job calls this between units of work; it raises :class:`Stopping` once
#: the daemon is stopping.  The argument is the number of units just done.
Checkpoint = Callable[[int], None]


class Stopping(Exception):
    """Raised at a safe point inside a job when feedsvc is stopping."""


@dataclass(frozen=True, slots=True)
class JobResult:
    changed: bool  # the store's visible content changed: a publish is due
    summary: str  # what the job did, for its log line and the heartbeat
    fields: Mapping[str, Any] = field(default_factory=dict)  # the same, for JSON logs
    next_due: datetime | None = None  # the source's own earliest next run (backoff …)
    exit_code: int = 0  # not 0: the job ran to its end but ``run --once`` must not exit 0


@dataclass(frozen=True, slots=True)
class SourceJob:
    """A source of entries the daemon runs on a schedule."""

    id: str
    interval: float  # seconds
    run: Callable[[Store, Config, Checkpoint], JobResult]
    #: Local sources cost little to look at, so ``run --once`` always runs
    #: them; remote ones only when due (their interval, backoff, Retry-After).
    local: bool = False
    #: Network work done before the locks are taken, so that a slow server
    #: never holds up the other jobs: it returns the ``run`` that stores
    #: what it fetched (then used instead of ``run``).
    prepare: Callable[[Config], Callable[[Store, Config, Checkpoint], JobResult]] | None = None


SourceFactory = Callable[[Config], list[SourceJob]]


def ingest_summary(counts: Mapping[str, int]) -> str:
    order = ("new", "revised", "duplicate", "unchanged", "rejected")
    return ", ".join(f"{k} {counts.get(k, 0)}" for k in order)


def _ingest_seeds(store: Store, config: Config, checkpoint: Checkpoint) -> JobResult:
    report = ingest_seeds(store, config, progress=checkpoint)
    # A separate `feedsvc ingest` may have changed the store since the last
    # publish; the scan is where the daemon notices and publishes it.
    changed = report.changed or store.has_unpublished()
    return JobResult(changed, ingest_summary(report.counts), {"counts": dict(report.counts)})


def named_seeds(paths: frozenset[str]) -> Callable[[Store, Config, Checkpoint], JobResult]:
    """The seeds job for the files a watcher named, instead of a full scan."""
    def run(store: Store, config: Config, checkpoint: Checkpoint) -> JobResult:
        report = ingest_seeds(store, config, progress=checkpoint, paths=paths)
        return JobResult(report.changed, ingest_summary(report.counts),
                         {"counts": dict(report.counts), "named": len(paths)})

    return run


def seeds_source(config: Config) -> list[SourceJob]:
    return [SourceJob(SEEDS, config.daemon.scan_interval, _ingest_seeds, local=True)]


def feed_result(report: SourcesReport) -> JobResult:
    """A remote source's run as a job result; its next due time defers the job."""
    counts = report.counts
    line = report.sources[0] if report.sources else None
    outcome = line.outcome if line else "nothing to do"
    if line is not None and line.message and line.outcome in ("failed", "gone", "disabled"):
        outcome = f"{outcome}: {line.message}"
    summary = f"{outcome}; {ingest_summary(counts)}"
    fields = {"outcome": line.outcome if line else None, "status": line.status if line else None,
              "counts": counts}
    return JobResult(report.changed, summary, fields, line.next_due if line else None)


# A remote source's two callables are values compared by the source's
# configuration, so a reload that leaves a source alone leaves its schedule alone.


@dataclass(frozen=True, slots=True)
class _FetchAndStore:
    """All in one, under the locks (the fallback when there is no prepare step)."""

    source: SourceConfig

    def __call__(self, store: Store, config: Config, checkpoint: Checkpoint) -> JobResult:
        return feed_result(ingest_sources(store, config, names=[self.source.name],
                                          progress=checkpoint))


@dataclass(frozen=True, slots=True)
class _Fetch:
    """Fetch (no lock held); what it returns stores the result (locks held)."""

    source: SourceConfig

    def __call__(self, config: Config) -> Callable[[Store, Config, Checkpoint], JobResult]:
        fetched, skipped = fetch_sources(config, [self.source.name])

        def store_it(store: Store, config: Config, checkpoint: Checkpoint) -> JobResult:
            return feed_result(apply_fetched(store, config, fetched, skipped,
                                             progress=checkpoint))

        return store_it


def feed_job_id(name: str) -> str:
    return f"feed:{name}"


def remote_sources(config: Config) -> list[SourceJob]:
    """One job per ``[[sources]]`` entry, at its own interval."""
    jobs = []
    for source in config.sources:
        jobs.append(SourceJob(feed_job_id(source.name),
                              float(source.interval or config.fetch.interval),
                              _FetchAndStore(source), prepare=_Fetch(source)))
    return jobs


#: Every kind of source.
SOURCE_FACTORIES: tuple[SourceFactory, ...] = (seeds_source, remote_sources)


def run_publish(store: Store, config: Config, checkpoint: Checkpoint) -> JobResult:
    r = publish(store, config, progress=checkpoint)
    summary = (f"feeds {r.feeds_written} written, {r.feeds_unchanged} unchanged; "
               f"pages {r.pages_written} written, {r.pages_unchanged} unchanged; "
               f"{r.files_removed} removed")
    left_out = sorted({s.entry_id for s in r.skipped})  # each named in a warning already
    if left_out:
        summary += f"; {len(left_out)} entries left out (cannot be rendered)"
    fields = {"feeds_written": r.feeds_written, "feeds_unchanged": r.feeds_unchanged,
              "pages_written": r.pages_written, "pages_unchanged": r.pages_unchanged,
              "files_removed": r.files_removed, "left_out": left_out}
    return JobResult(False, summary, fields, exit_code=EXIT_SKIPPED if left_out else 0)


__all__ = [
    "PUBLISH",
    "SEEDS",
    "SOURCE_FACTORIES",
    "Checkpoint",
    "JobResult",
    "SourceFactory",
    "SourceJob",
    "Stopping",
    "feed_job_id",
    "feed_result",
    "ingest_summary",
    "named_seeds",
    "remote_sources",
    "run_publish",
    "seeds_source",
]
