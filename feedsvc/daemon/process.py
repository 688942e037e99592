"""What the daemon needs from the operating system: signals, a stop flag, its lock.

Signals arrive as bytes on a pipe that the main thread reads when it chooses
(:class:`SignalPipe`), so no handler ever runs feedsvc code; the stop flag
(:class:`StopFlag`) is safe to set from a signal handler; and
:func:`daemon_lock` keeps to one ``feedsvc run`` per data folder.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from ..errors import LockError
from ..store.lock import open_lock_file, write_pid

#: ``flock``-ed by ``feedsvc run`` for its whole life: one daemon per data folder.
DAEMON_LOCK = "feedsvc-run.lock"

#: The signals ``feedsvc run`` reads from its :class:`SignalPipe`.
SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class StopFlag:
    """A stop flag safe to set from a signal handler (it takes no lock)."""

    __slots__ = ("_on",)

    def __init__(self) -> None:
        self._on = False

    def set(self) -> None:
        self._on = True

    def is_set(self) -> bool:
        return self._on


class SignalPipe:
    """Signals as bytes on a pipe, read by the main thread when it chooses.

    The handlers do nothing; Python's own C handler writes each signal's
    number to the wakeup pipe.  So no signal handler ever runs code that
    could meet a lock held by the code it interrupted, and a signal that the
    kernel hands to another thread (a library's worker) still arrives here.
    """

    def __enter__(self) -> SignalPipe:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._old_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, _ignore) for s in SIGNALS}
        return self

    def wait(self, timeout: float | None = None) -> int | None:
        """The next signal's number, or None after ``timeout`` seconds."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        return os.read(self._read, 1)[0] if ready else None

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._read)
        os.close(self._write)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    pass


@contextmanager
def daemon_lock(data_dir: Path) -> Iterator[None]:
    path = data_dir / DAEMON_LOCK
    fd = open_lock_file(data_dir, DAEMON_LOCK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise LockError(f"feedsvc run is already running for this data folder "
                            f"(pid {other})", where=path) from None
        write_pid(fd)
        yield
    finally:
        os.close(fd)


__all__ = ["DAEMON_LOCK", "SIGNALS", "SignalPipe", "StopFlag", "daemon_lock"]
