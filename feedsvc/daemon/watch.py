"""Watching the seeds folder: a new seed file is ingested within a second.

inotify (through the ``watchfiles`` library) is fast but not complete: events
are lost when its queue overflows, on network file systems, or while the
folder is being replaced.  So the watcher only makes the files it saw come in
*early* (it names them: nothing else of the folder is listed); the scheduler's
periodic full scan stays the safety net that catches whatever it missed.

Operators should drop seed files atomically (write ``name.txt.tmp``, then
rename it to ``name.txt``): a file written in place may be scanned while it is
half written, which is read as a short article and then revised.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

log = logging.getLogger(__name__)

#: Milliseconds: changes are gathered until the folder has been quiet for
#: STEP, but for at most DEBOUNCE, then handed over as one batch.
DEBOUNCE_MS = 800
STEP_MS = 50

#: Seconds to wait before watching again after the watcher failed (the
#: folder vanished, too many watches …).
RETRY_SECONDS = 5.0


def is_seed_change(change: watchfiles.Change, path: str, pattern: str) -> bool:
    """Whether a change can give the seeds scan something to do.

    New and rewritten files matching the seeds pattern count; so does a new
    folder (files moved in together with it raise no event of their own).
    Deletions do not: a removed seed file leaves its entry in place.
    """
    if change is watchfiles.Change.deleted:
        return False
    name = Path(path).name
    if name.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, pattern) or (
        change is watchfiles.Change.added and Path(path).is_dir()
    )


def changed_paths(changes: Iterable[tuple[watchfiles.Change, str]]) -> frozenset[str] | None:
    """The files a batch of (already filtered) changes names, or None when a
    folder appeared: the files moved in with it raised no events, so only a
    scan finds them."""
    paths = set()
    for change, path in changes:
        if change is watchfiles.Change.added and Path(path).is_dir():
            return None
        paths.add(path)
    return frozenset(paths)


class SeedWatcher:
    """A thread that calls ``on_change(paths)`` after seed files appear or change.

    ``paths`` are the files seen (absolute), or None when only a scan can
    tell (:func:`changed_paths`).  ``on_change`` runs in the watcher's own
    thread; changes arriving while it runs are gathered and reported by one
    more call when it returns, so a burst of files gives a handful of calls,
    not one per file.
    """

    def __init__(self, folder: Path, pattern: str,
                 on_change: Callable[[frozenset[str] | None], object]) -> None:
        self.folder = folder
        self.pattern = pattern
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedsvc-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _filter(self, change: watchfiles.Change, path: str) -> bool:
        return is_seed_change(change, path, self.pattern)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for changes in watchfiles.watch(
                    self.folder,
                    watch_filter=self._filter,
                    debounce=DEBOUNCE_MS,
                    step=STEP_MS,
                    stop_event=self._stop,
                    rust_timeout=0,  # no timeout: the stop event is checked every STEP_MS
                    raise_interrupt=False,
                ):
                    if not self._stop.is_set():
                        log.debug("watch: %d change(s) in %s", len(changes), self.folder)
                        self._on_change(changed_paths(changes))
            except Exception as exc:
                # Not fatal: the periodic scan still runs.  Retry quietly.
                log.warning("watch: cannot watch %s (%s); relying on the periodic scan, "
                            "retrying in %g s", self.folder, exc, RETRY_SECONDS)
                self._stop.wait(RETRY_SECONDS)


__all__ = ["SeedWatcher", "changed_paths", "is_seed_change"]
