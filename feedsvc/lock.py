"""One writer at a time: an exclusive ``flock`` on ``<data folder>/feedsvc.lock``.

``ingest``, ``publish`` and the daemon take it; readers (``status``) never
need it because SQLite's WAL gives them a consistent snapshot and feed files
are replaced atomically.  ``flock`` locks die with the process, so a kill -9
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockError

LOCK_NAME = "feedsvc.lock"


@contextmanager
def writer_lock(data_dir: Path, *, wait: float = 0.0, poll: float = 0.1) -> Iterator[Path]:
    """Hold the writer lock for the duration of the block.

    Waits up to ``wait`` seconds for another writer to finish, then raises
    :class:`LockError`.
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise LockError(f"cannot create lock file: {exc.strerror}", where=data_dir) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockError(
                        "another feedsvc process is writing to this data folder "
                        f"(waited {wait:g} s); try again later",
                        where=data_dir / LOCK_NAME,
                    ) from None
                time.sleep(poll)
        # The pid is informative only (for operators); the lock is the flock.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield data_dir / LOCK_NAME
    finally:
        os.close(fd)
