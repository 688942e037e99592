"""``feedsvc run``: keep every feed fresh, for months, without help.

Jobs (APScheduler 3, in a background scheduler, times in UTC):

* one job per **source**, at the source's interval with jitter: the seeds
  folder (``daemon.scan_interval``), then each remote feed.  The jobs
  themselves, and the factories that make one per source, are in
  :mod:`feedsvc.daemon.jobs`.  A source may ask to run later than its
  interval (backoff, Retry-After, cache hints) through
  :attr:`~feedsvc.daemon.jobs.JobResult.next_due`.
* **publish**, a one-off job scheduled ``daemon.publish_delay`` seconds after
  an ingest that changed the store.  Changes arriving while a publish is
  pending join it; changes arriving while it runs get exactly one more
  publish afterwards (:class:`PublishGate`).  A burst of files therefore gives
  one or two publishes, not one per file.

Every job has ``max_instances=1`` and ``coalesce=True`` (a late job runs once,
not once per missed time); the seeds folder's watcher (:mod:`feedsvc.daemon.watch`)
runs an early scan in its own thread under the same per-source lock, so no
source ever overlaps itself.  Inside the process one job writes at a time;
between processes the writer lock (:mod:`feedsvc.store.lock`) is taken per job, so
``feedsvc publish`` from cron can run beside the daemon: whichever comes
second waits (``daemon.lock_wait``).

Stopping (SIGTERM, SIGINT): no new job starts; the job in progress stops at
its next safe point (after the batch of files it is committing, or between
two article pages), which takes well under a second; feedsvc exits 0.  If a
job has not stopped after ``daemon.stop_timeout`` seconds, feedsvc exits 0
anyway: that is as safe as a kill -9 (the open transaction is rolled back,
temporary files are removed by the next publish, the work is redone).  A
second signal exits at once.  SIGHUP reloads the configuration file; a broken
one is refused with a logged error and the running configuration stays.

The decisions (what is due, when to publish) are small pure functions of
their inputs and an explicit ``now`` (:mod:`feedsvc.daemon.policy`); the
log format is set in :mod:`feedsvc.daemon.logs`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..clock import Clock, system_clock
from ..config import Config
from ..errors import ConfigError, FeedsvcError, InputError
from ..store import Store
from .heartbeat import (
    RUNNING,
    STOPPED,
    STOPPING,
    Heartbeat,
    read_heartbeat,
    remove_stale_temps,
)
from .jobs import (
    PUBLISH,
    SEEDS,
    SOURCE_FACTORIES,
    Checkpoint,
    JobResult,
    SourceFactory,
    SourceJob,
    named_seeds,
    run_publish,
)
from .policy import (
    due_once,
    gate_changed,
    gate_finished,
    gate_skipped,
    gate_started,
    jitter_for,
    next_run,
)
from .process import SIGNALS, SignalPipe, daemon_lock
from .runner import JobRunner
from .watch import SeedWatcher

log = logging.getLogger(__name__)


def _check_seeds(config: Config) -> None:
    if not config.seeds.folder.is_dir():
        raise InputError("seeds folder does not exist or is not a folder",
                         where=config.seeds.folder)


class Daemon(JobRunner):
    """The scheduler of the jobs: the sources, the publishes they make due,
    reloading, and the two ways to run (:meth:`serve`, :meth:`run_once`).

    Running one job and the state the jobs share are :class:`JobRunner`'s.
    ``load`` re-reads the configuration on SIGHUP (it raises
    :class:`ConfigError` for a broken file).
    """

    def __init__(self, config: Config, *, load: Callable[[], Config] | None = None,
                 clock: Clock = system_clock,
                 factories: Sequence[SourceFactory] = SOURCE_FACTORIES) -> None:
        super().__init__(config, clock)
        self._load = load
        self._factories = tuple(factories)
        self._source_locks: dict[str, threading.Lock] = {}
        self._reconcile = True  # publish after the first run whatever it found
        self._watcher: SeedWatcher | None = None
        self._set_sources(config)

    # -- sources --------------------------------------------------------------

    def _set_sources(self, config: Config) -> list[SourceJob]:
        """Adopt the sources ``config`` defines; returns those new or changed."""
        sources = [s for factory in self._factories for s in factory(config)]
        changed = [s for s in sources if self._sources.get(s.id) != s]
        for gone in set(self._sources) - {s.id for s in sources}:
            del self._sources[gone]
            if self._scheduler is not None and self._scheduler.get_job(gone) is not None:
                self._scheduler.remove_job(gone)
        for source in sources:
            self._sources[source.id] = source
            self._source_locks.setdefault(source.id, threading.Lock())
        return changed

    def _add_source_job(self, source: SourceJob, *, now: datetime) -> None:
        assert self._scheduler is not None
        self._scheduler.add_job(
            self._run_source, IntervalTrigger(seconds=source.interval,
                                              jitter=jitter_for(source.interval), timezone=UTC),
            args=[source.id], kwargs={"wait": False}, id=source.id, name=source.id,
            next_run_time=now, replace_existing=True, max_instances=1, coalesce=True,
            # More than one interval late: skip it, the next one is due soon anyway.
            misfire_grace_time=max(1, int(source.interval)))

    def _run_source(self, source_id: str, *, wait: bool = True,
                    work: Callable[[Store, Config, Checkpoint], JobResult] | None = None
                    ) -> JobResult | None:
        """Run one source (its lock makes a second call wait, or return at once);
        ``work`` instead of the source's own run (the watcher's named files)."""
        lock = self._source_locks.get(source_id)
        if lock is None or not lock.acquire(blocking=wait):
            return None
        try:
            source = self._sources.get(source_id)
            if source is None or self._stop.is_set():
                return None
            work = work or source.run
            if source.prepare is not None:
                try:
                    work = source.prepare(self.config)
                except FeedsvcError as exc:
                    self._failed(source_id, exc, str(exc))
                    return None
                except Exception as exc:  # a bug in the fetch step
                    self._crashed(source_id, exc)
                    return None
                if self._stop.is_set():
                    return None
            result = self._job(source_id, work)
            if result is not None and result.next_due is not None:
                self._defer(source_id, result.next_due)
            if (result is not None and result.changed) or self._reconcile:
                # After a start, publish once whatever the scan found: a crash
                # between an ingest and its publish leaves nothing behind.
                self._reconcile = False
                self._changed()
            return result
        finally:
            lock.release()
            self._beat()

    def _defer(self, source_id: str, hint: datetime) -> None:
        job = self._scheduler.get_job(source_id) if self._scheduler is not None else None
        if job is not None:
            when = next_run(job.next_run_time, hint)
            if when is not None and when != job.next_run_time:
                job.modify(next_run_time=when)
        self._beat_job(source_id, next_due=next_run(None, hint))

    # -- publishing -------------------------------------------------------------

    def _changed(self) -> None:
        with self._mu:
            self._gate, when = gate_changed(self._gate, self._clock(),
                                            self.config.daemon.publish_delay)
        if when is not None:
            self._schedule_publish(when)

    def _schedule_publish(self, when: datetime) -> None:
        if self._scheduler is None or self._stop.is_set():
            return  # --once publishes inline; a stopping daemon starts nothing
        self._scheduler.add_job(self._publish_job, DateTrigger(run_date=when, timezone=UTC),
                                id=PUBLISH, name=PUBLISH, replace_existing=True,
                                max_instances=1, coalesce=True, misfire_grace_time=None)
        self._beat()

    def _publish_job(self) -> None:
        with self._mu:
            self._gate = gate_started(self._gate)
        result = None
        try:
            result = self._job(PUBLISH, run_publish)
        finally:
            config = self.config.daemon
            with self._mu:
                self._gate, when = gate_finished(self._gate, self._clock(),
                                                 config.publish_delay, ok=result is not None,
                                                 retry=config.scan_interval)
            if when is not None:
                self._schedule_publish(when)
            self._beat()

    def _on_event(self, event: JobSubmissionEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES and event.job_id == PUBLISH:
            with self._mu:
                self._gate, when = gate_skipped(self._gate, self._clock(),
                                                self.config.daemon.publish_delay)
            if when is not None:
                self._schedule_publish(when)

    # -- reloading ----------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the configuration (SIGHUP).  A broken file is refused and
        logged; the running configuration then stays in force."""
        if self._load is None:
            return False
        try:
            new = self._load()
            if new.store.path != self.config.store.path:
                raise ConfigError("store.path cannot change while feedsvc run is running; "
                                  "restart it instead", where=new.source)
            _check_seeds(new)
        except FeedsvcError as exc:
            log.error("reload refused, the running configuration stays: %s", exc,
                      extra={"feedsvc": {"job": "reload"}})
            with self._mu:
                self._hb = replace(self._hb, reload_error=str(exc))
            self._beat()
            return False
        old, self.config = self.config, new
        now = self._clock()
        for source in self._set_sources(new):
            self._add_source_job(source, now=now)
        if (old.seeds.folder, old.seeds.pattern, old.daemon.watch) != (
                new.seeds.folder, new.seeds.pattern, new.daemon.watch):
            self._restart_watcher()
        with self._mu:
            self._hb = replace(self._hb, reload_error=None,
                               config=str(new.source) if new.source else None)
        log.info("configuration reloaded from %s", new.source or "the built-in defaults",
                 extra={"feedsvc": {"job": "reload"}})
        self._changed()  # site or publish settings may change the output
        return True

    def _restart_watcher(self) -> None:
        if self._watcher is not None:
            self._watcher.stop(timeout=0)
            self._watcher = None
        cfg = self.config
        if cfg.daemon.watch and self._scheduler is not None:
            self._watcher = SeedWatcher(
                cfg.seeds.folder, cfg.seeds.pattern,
                lambda paths: self._run_source(
                    SEEDS, work=None if paths is None else named_seeds(paths)))
            self._watcher.start()

    # -- the two ways to run --------------------------------------------------------

    def serve(self) -> int:
        """Run until SIGTERM or SIGINT; returns the exit code (0)."""
        config = self.config
        _check_seeds(config)
        with daemon_lock(config.data_dir), SignalPipe() as signals:
            remove_stale_temps(config.data_dir)
            scheduler = BackgroundScheduler(
                timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=4)})
            scheduler.add_listener(self._on_event, EVENT_JOB_MAX_INSTANCES)
            self._scheduler = scheduler
            scheduler.start()
            now = self._clock()
            for source in self._sources.values():
                self._add_source_job(source, now=now)
            self._restart_watcher()
            self._beat(RUNNING)
            d = config.daemon
            log.info("run: started (pid %d); seeds %s every %d s%s; publish %g s after a "
                     "change; stops within %g s", os.getpid(), config.seeds.folder,
                     d.scan_interval, ", watched" if d.watch else "", d.publish_delay,
                     d.stop_timeout, extra={"feedsvc": {"job": "run", "pid": os.getpid()}})
            while True:
                signum = signals.wait()
                if signum == signal.SIGHUP:
                    log.info("received SIGHUP: reloading %s",
                             self.config.source or "the configuration")
                    self.reload()
                    continue
                if signum in SIGNALS:
                    log.info("received %s: stopping", signal.Signals(signum).name,
                             extra={"feedsvc": {"job": "run"}})
                    break
            return self._shutdown(signals)

    def _shutdown(self, signals: SignalPipe) -> int:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.stop(timeout=0)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        self._beat(STOPPING)
        bound = self.config.daemon.stop_timeout
        deadline = time.monotonic() + bound
        while True:
            with self._mu:
                if self._active == 0:
                    break
            left = deadline - time.monotonic()
            if left <= 0:
                self._exit_now(f"a job did not stop within {bound:g} s; exiting anyway "
                               "(its uncommitted work is rolled back and redone next time)")
            signum = signals.wait(min(0.1, left))
            if signum is not None and signum != signal.SIGHUP:
                self._exit_now("second signal: exiting now")
        self._beat(STOPPED)
        log.info("run: stopped", extra={"feedsvc": {"job": "run"}})
        return 0

    def _exit_now(self, why: str) -> None:
        log.warning("%s", why, extra={"feedsvc": {"job": "run"}})
        self._beat(STOPPED)
        logging.shutdown()
        # Threads may be inside a job: skip their cleanup.  Everything feedsvc
        # writes survives this like it survives a kill -9.
        os._exit(0)

    def run_once(self) -> int:
        """Run every due source once, publish if anything changed, exit.

        Returns 0, or the exit code of the first job that failed.
        """
        config = self.config
        _check_seeds(config)
        with daemon_lock(config.data_dir):
            remove_stale_temps(config.data_dir)
            previous = read_heartbeat(config.data_dir)
            if previous is not None:  # keep the history: last errors, remote due times
                self._hb = replace(self._hb, jobs=tuple(replace(j, running=False)
                                                        for j in previous.jobs))
            self._hb = replace(self._hb, once=True)
            handlers = {s: signal.signal(s, self._on_signal_once)
                        for s in (signal.SIGTERM, signal.SIGINT)}
            try:
                self._once(previous)
            finally:
                for s, handler in handlers.items():
                    signal.signal(s, handler)
            self._beat(STOPPED)
        return self._failure or 0

    def _once(self, previous: Heartbeat | None) -> None:
        now = self._clock()
        # Only a source that ran after the last publish makes one due.
        self._reconcile = previous is None or previous.publish_pending
        for source_id in due_once(list(self._sources.values()), previous, now):
            result = self._run_source(source_id)
            source = self._sources[source_id]
            hint = result.next_due if result is not None else None
            due = None if source.local else next_run(now + timedelta(seconds=source.interval),
                                                     hint)
            self._beat_job(source_id, next_due=due)
        if self._gate.pending and not self._stop.is_set():
            self._publish_job()

    def _on_signal_once(self, signum: int, _frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes: it only sets a flag
        # (no locks) and arms the hard bound.
        if self._stop.is_set():
            os._exit(0)
        self._stop.set()
        timer = threading.Timer(self.config.daemon.stop_timeout, os._exit, args=(0,))
        timer.daemon = True
        timer.start()


__all__ = ["Daemon"]
