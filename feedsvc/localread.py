"""Reading a local input file that may have changed since it was found.

Between a folder scan (or a configuration naming a file) and the read,
anything can happen to a path: the file is removed, replaced by a FIFO,
a device, a folder or a symbolic link.  A plain ``open`` of a FIFO waits for
a writer for ever, and the run waiting holds the writer lock, so every
later run waits too.  :func:`read_regular_file` opens without blocking and
reads only what is a regular file once open.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["NotRegularFile", "read_regular_file"]


class NotRegularFile(OSError):
    """The path names a FIFO, device, socket or folder, not a regular file."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.EINVAL, "not a regular file", str(path))


def read_regular_file(path: Path, limit: int, *, follow_links: bool = True) -> bytes:
    """At most ``limit`` bytes of the regular file at ``path``.

    ``follow_links=False`` refuses a symbolic link (``ELOOP``): for a path the
    caller saw as a file, a link there now is not what it saw.  Raises
    :class:`OSError` (:class:`NotRegularFile` for anything but a regular file).
    """
    # O_NONBLOCK: opening a FIFO must not wait for a writer.  It changes
    # nothing for a regular file, whose reads never block.
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_links:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(path)
        with open(fd, "rb", closefd=False) as fh:
            return fh.read(limit)
    finally:
        os.close(fd)
