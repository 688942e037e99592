"""Atomic file replacement that leaves identical files alone.

A reader (a web server, a feed reader polling the folder) sees either the
old file or the new one, never a part: the bytes go to a temporary file in
the same folder, which then replaces the target with one ``rename``.  A
file that already holds exactly the new bytes is not touched at all, so an
unchanged publish keeps every mtime (and every HTTP validator) as it was.

``durable=True`` (feeds, indexes) also fsyncs the data before the rename, so
a power cut cannot leave an empty or partial file under the real name.  The
folder itself is not fsynced: after a crash the rename may be lost, which
leaves the old file, whole.  Article pages use ``durable=False``: there are
a hundred thousand of them, an fsync costs milliseconds each, and a page
lost to a power cut is rewritten by the next publish (it is only marked
published after it is written).
"""

from __future__ import annotations

import os
import re
import stat
from contextlib import suppress

# Plain ``os`` calls on ``str`` paths: this runs once per page, a hundred
# thousand times per cold publish, and pathlib objects cost more than the
# system calls themselves.

#: A temporary file of ours: ``.<target name>.<pid>.tmp`` beside the target.
TEMP_NAME = re.compile(r"\.(?P<target>.+)\.(?P<pid>[0-9]+)\.tmp")

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW


def temp_name(name: str) -> str:
    """The temporary name used while writing ``name`` (see :data:`TEMP_NAME`)."""
    return f".{name}.{os.getpid()}.tmp"


def same_content(path: str, data: bytes) -> bool:
    """True if ``path`` is a regular file holding exactly ``data``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        info = os.fstat(fd)
        # Most changed files change size too: then there is nothing to read.
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        chunks = []
        left = len(data) + 1  # one byte more: a file that grew meanwhile differs
        while left > 0 and (chunk := os.read(fd, left)):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks) == data
    finally:
        os.close(fd)


def write_if_changed(path: str | os.PathLike[str], data: bytes, *, durable: bool = True,
                     known_absent: bool = False) -> bool:
    """Make ``path`` hold ``data``; False (and nothing touched) if it already did.

    ``known_absent``: the caller has just seen that there is no such file (a
    scan of the folder), so the comparison is skipped; a file that appeared
    since is replaced all the same.  Raises ``OSError`` as the operating
    system reports it; the temporary file is removed again on any failure,
    so the target keeps its old content.
    """
    target = os.fspath(path)
    if not known_absent and same_content(target, data):
        return False
    folder, name = os.path.split(target)
    temp = os.path.join(folder, temp_name(name))  # noqa: PTH118
    # Mode 0o644 (less the umask): the output is meant to be served to anyone.
    fd = os.open(temp, _FLAGS, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)  # noqa: PTH105
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)  # noqa: PTH108
        raise
    return True


__all__ = ["TEMP_NAME", "same_content", "temp_name", "write_if_changed"]
