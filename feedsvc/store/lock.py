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

from ..errors import DataFolderError, LockError

LOCK_NAME = "feedsvc.lock"


def open_lock_file(data_dir: Path, name: str) -> int:
    """Open (creating the data folder and the file if need be) a lock file.

    A folder that cannot be created or written is an I/O problem of its own
    (:class:`DataFolderError`, exit 3), told apart from another process
    holding the lock (:class:`LockError`, exit 5), which only ``flock`` says.
    """
    path = data_dir / name
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # An existing lock file opens even where nothing can be created; the
        # store beside it could not then be written.  (For root, access()
        # still sees a read-only mount and an immutable folder.)
        if not os.access(data_dir, os.W_OK | os.X_OK):
            raise DataFolderError("the data folder is not writable (it holds the store "
                                  "and the lock files)", where=data_dir)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise DataFolderError("the data folder is a file, not a folder", where=data_dir) from None
    except OSError as exc:
        at = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(data_dir) else ""
        raise DataFolderError(f"cannot create or write the data folder: {exc.strerror}{at}",
                              where=data_dir) from None


def write_pid(fd: int) -> None:
    """Record the holder's pid in a lock file it holds (for operators only:
    the lock is the flock, so a full disk here changes nothing)."""
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass


@contextmanager
def writer_lock(data_dir: Path, *, wait: float = 0.0, poll: float = 0.1) -> Iterator[Path]:
    """Hold the writer lock for the duration of the block.

    Waits up to ``wait`` seconds for another writer to finish, then raises
    :class:`LockError`; a data folder that cannot be written raises
    :class:`DataFolderError`.
    """
    fd = open_lock_file(data_dir, LOCK_NAME)
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
            except OSError as exc:  # no locks on this file system (ENOLCK …)
                raise DataFolderError(f"cannot lock {LOCK_NAME}: {exc.strerror}",
                                      where=data_dir) from None
        write_pid(fd)
        yield data_dir / LOCK_NAME
    finally:
        os.close(fd)
