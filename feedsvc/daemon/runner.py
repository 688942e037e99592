"""Running the daemon's jobs one at a time, and recording each in the heartbeat.

:class:`JobRunner` holds the state every job shares (the stop flag, the job
count, the first failure, the publish gate, the heartbeat) and runs one job:
the process's work lock, then the data folder's writer lock, a freshly opened
store, one log line, its record in the heartbeat file.  What runs when is
the :class:`~feedsvc.daemon.scheduler.Daemon`'s business, built on it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from ..clock import Clock
from ..config import Config
from ..errors import EXIT_INTERNAL, FeedsvcError, LockError
from ..store import Store, open_store
from ..store.lock import writer_lock
from .heartbeat import RUNNING, Heartbeat, JobBeat, write_heartbeat
from .jobs import PUBLISH, Checkpoint, JobResult, SourceJob, Stopping
from .policy import PublishGate
from .process import StopFlag

#: The daemon's log, under the name its lines have always carried.
log = logging.getLogger("feedsvc.daemon.scheduler")


class JobRunner:
    """The state the daemon's jobs share, the running of one job, the heartbeat."""

    def __init__(self, config: Config, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._sources: dict[str, SourceJob] = {}
        self._work = threading.Lock()  # one writing job at a time in this process
        self._mu = threading.RLock()  # the gate, the heartbeat, the job count
        self._stop = StopFlag()
        self._active = 0
        self._gate = PublishGate()
        #: Exit code of the first job that failed (``run --once`` exits with it).
        self._failure: int | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._beat_failed = False
        now = clock()
        self._hb = Heartbeat(pid=os.getpid(), state=RUNNING, started=now, updated=now,
                             config=str(config.source) if config.source else None)

    # -- running one job ------------------------------------------------------

    def _checkpoint(self, _done: int = 0) -> None:
        if self._stop.is_set():
            raise Stopping

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The process's work lock, then the data folder's writer lock; both
        waits end early when feedsvc is stopping."""
        while not self._work.acquire(timeout=0.2):
            self._checkpoint()
        try:
            with ExitStack() as stack:
                wait = self.config.daemon.lock_wait
                deadline = time.monotonic() + wait
                while True:
                    self._checkpoint()
                    try:
                        left = max(0.0, deadline - time.monotonic())
                        stack.enter_context(writer_lock(self.config.data_dir,
                                                        wait=min(0.5, left)))
                        break
                    except LockError as exc:
                        if time.monotonic() >= deadline:
                            raise LockError(f"another feedsvc process held the writer lock "
                                            f"for {wait:g} s; trying again later",
                                            where=exc.where) from None
                yield
        finally:
            self._work.release()

    def _job(self, name: str, work: Callable[[Store, Config, Checkpoint], JobResult]
             ) -> JobResult | None:
        """Run ``work`` on a freshly opened store under both locks; log one
        line; record it in the heartbeat.  None if it failed or was stopped."""
        with self._mu:
            self._active += 1
        started, clock = time.monotonic(), self._clock()
        self._beat_job(name, running=True, last_start=clock)
        config = self.config
        try:
            with self._writing(), open_store(config) as store:
                result = work(store, config, self._checkpoint)
        except Stopping:
            log.info("%s: stopped at a safe point; the rest is done on the next run", name,
                     extra={"feedsvc": {"job": name, "stopped": True}})
            self._beat_job(name, running=False, last_end=self._clock(),
                           last_summary="stopped at a safe point")
            return None
        except FeedsvcError as exc:
            self._failed(name, exc, str(exc))
            return None
        except Exception as exc:  # a bug: keep the daemon alive, keep the traceback
            self._crashed(name, exc)
            return None
        finally:
            with self._mu:
                self._active -= 1
        duration = time.monotonic() - started
        if result.exit_code:
            self._first_failure(result.exit_code)
        log.info("%s: %s in %.2f s", name, result.summary, duration,
                 extra={"feedsvc": {"job": name, "duration": round(duration, 3),
                                    **result.fields}})
        self._beat_job(name, running=False, last_end=self._clock(),
                       last_summary=f"{result.summary} in {duration:.2f} s")
        return result

    def _failed(self, name: str, exc: FeedsvcError | None, message: str) -> None:
        if exc is not None:
            log.error("%s: %s", name, message, extra={"feedsvc": {"job": name}})
            self._first_failure(exc.exit_code)
        now = self._clock()
        self._beat_job(name, running=False, last_end=now, last_summary="failed",
                       last_error=message, last_error_at=now)

    def _first_failure(self, code: int) -> None:
        with self._mu:
            if self._failure is None:
                self._failure = code

    def _crashed(self, name: str, exc: Exception) -> None:
        """A job failed through a bug in feedsvc: the traceback goes to the log,
        and ``run --once`` must not exit 0 after it."""
        log.exception("%s: internal error", name, extra={"feedsvc": {"job": name}})
        self._first_failure(EXIT_INTERNAL)
        self._failed(name, None, f"internal error: {type(exc).__name__}: {exc}")

    # -- heartbeat --------------------------------------------------------------

    def _beat_job(self, name: str, **changes: Any) -> None:
        with self._mu:
            beat = self._hb.job(name) or JobBeat(name)
            source = self._sources.get(name)
            self._hb = self._hb.with_job(replace(beat, interval=source.interval if source
                                                 else None, **changes))
        self._beat()

    def _next_due(self, name: str) -> datetime | None:
        if name == PUBLISH:
            return self._gate.due
        job = self._scheduler.get_job(name) if self._scheduler is not None else None
        if job is not None:
            moment: datetime | None = job.next_run_time
            return moment
        beat = self._hb.job(name)
        return beat.next_due if beat is not None else None

    def _beat(self, state: str | None = None) -> None:
        with self._mu:
            jobs = tuple(replace(j, next_due=self._next_due(j.name)) for j in self._hb.jobs)
            # An ingest in progress may commit changes before its publish is
            # scheduled: if it is killed, the next start must publish.
            ingesting = any(j.running for j in jobs if j.name != PUBLISH)
            self._hb = replace(self._hb, state=state or self._hb.state, updated=self._clock(),
                               jobs=jobs, publish_pending=self._gate.pending or ingesting)
            try:
                write_heartbeat(self.config.data_dir, self._hb)
                self._beat_failed = False
            except FeedsvcError as exc:
                if not self._beat_failed:  # once, not on every job
                    log.warning("%s", exc)
                self._beat_failed = True


__all__ = ["JobRunner"]
