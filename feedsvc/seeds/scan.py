"""The seeds folder scan: which files are seed files, in which order.

:func:`scan_seeds` lists the regular files below the seeds folder whose name
matches the configured pattern, as :class:`SeedFile` records (path, size,
mtime) from which ingest decides what to read again; the bytes are read and
parsed elsewhere (:mod:`feedsvc.seeds.parse`, :mod:`feedsvc.seeds.prepare`).
"""

from __future__ import annotations

import fnmatch
import gc
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..names import printable

__all__ = ["SeedFile", "scan_seeds", "stat_seeds"]


@dataclass(frozen=True, slots=True)
class SeedFile:
    """One seed file found by :func:`scan_seeds`."""

    root: Path  # the seeds folder, absolute
    relpath: str  # posix path relative to the seeds folder: the file's identity
    size: int
    mtime_ns: int
    followed: bool = False  # reached through a symbolic link (to a file inside the folder)

    @property
    def path(self) -> Path:
        """The file's absolute path, built only when the file is read: making a
        Path per file costs as much as listing and stat-ing the folder."""
        return self.root / self.relpath


def scan_seeds(folder: Path, pattern: str) -> list[SeedFile]:
    """Regular files below ``folder`` whose name matches ``pattern``, in file-name order.

    Order: by base name, then by relative path.  Hidden (dot) folders and
    files are skipped (editor and OS droppings), unless ``pattern`` itself
    starts with a dot for files.  Symbolic links to files are followed only
    when their target lies inside the folder.  Links to folders are not
    followed: a target inside the folder is scanned under its own path anyway,
    one outside is out of bounds, and not following them rules out loops.
    """
    with _collector_paused():
        return _scan(folder, pattern)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a scan builds its objects.

    A scan of 100,000 files allocates some 400,000 small objects that all stay
    alive; the collections they trigger find nothing to free and cost a
    quarter of the scan.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _seed_name(pattern: str) -> Callable[[str], object]:
    """Whether a file name is a seed file's: it matches ``pattern``
    (``fnmatchcase``, with a fast path for the usual ``*.txt``) and is not
    hidden (a dot name), unless the pattern itself is for dot names."""
    suffix = pattern[1:]
    if pattern.startswith("*") and not any(c in suffix for c in "*?[\\"):
        return lambda name: name.endswith(suffix) and not name.startswith(".")
    match = re.compile(fnmatch.translate(pattern)).match
    if pattern.startswith("."):
        return match
    return lambda name: not name.startswith(".") and match(name)


def _scan(folder: Path, pattern: str) -> list[SeedFile]:
    root = folder.absolute()
    try:
        is_dir = stat.S_ISDIR(root.stat().st_mode)
        real_root = os.path.realpath(root)
    except FileNotFoundError:
        raise InputError("seeds folder not found", where=folder) from None
    except OSError as exc:
        raise InputError(f"cannot read seeds folder: {exc.strerror}", where=folder) from None
    if not is_dir:
        raise InputError("seeds folder is not a folder", where=folder)
    inside = real_root.rstrip(os.sep) + os.sep
    wanted = _seed_name(pattern)

    found: list[tuple[str, str, int, int, bool]] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = os.scandir(directory)
        except FileNotFoundError:
            if not prefix:
                raise InputError("seeds folder not found", where=folder) from None
            continue  # removed while scanning
        except OSError as exc:
            # A folder's name, like a file's, may hold anything but "/" and NUL.
            where = printable(str(directory)) if prefix else folder
            raise InputError(f"cannot read folder: {exc.strerror}", where=where) from None
        with entries:
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not name.startswith("."):
                            stack.append((directory / name, f"{prefix}{name}/"))
                        continue
                    if not wanted(name):
                        continue
                    link = entry.is_symlink()
                    if link:
                        if not os.path.realpath(entry.path).startswith(inside):
                            continue
                        st = entry.stat()
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                    else:
                        continue
                except OSError:
                    continue  # vanished, dangling or looping link: not a seed file
                if stat.S_ISREG(st.st_mode):
                    found.append((name, prefix + name, st.st_size, st.st_mtime_ns, link))
    found.sort()  # (name, relpath) is unique
    return [SeedFile(root, rel, size, mtime, link) for _, rel, size, mtime, link in found]


def stat_seeds(folder: Path, pattern: str, paths: Iterable[str]) -> list[SeedFile]:
    """:func:`scan_seeds` for the named ``paths`` only (a watcher's events):
    the same rules, without listing the folder.  A path outside the folder,
    in a hidden folder, not matching, gone or not a regular file is left out."""
    root = folder.absolute()
    real_root = os.path.realpath(root)
    inside = real_root.rstrip(os.sep) + os.sep
    wanted = _seed_name(pattern)
    found: list[tuple[str, str, int, int, bool]] = []
    for raw in set(paths):
        try:
            rel = Path(raw).absolute().relative_to(root)
        except ValueError:
            continue
        parts = rel.parts
        if not parts or ".." in parts or any(p.startswith(".") for p in parts[:-1]):
            continue
        name = parts[-1]
        if not wanted(name):
            continue
        full = root.joinpath(*parts)
        try:
            st = full.lstat()
            link = stat.S_ISLNK(st.st_mode)
            if link:
                if not os.path.realpath(full).startswith(inside):
                    continue
                st = full.stat()
            # A folder on the way that is a link is not followed by a scan either.
            if os.path.realpath(full.parent) != str(Path(real_root).joinpath(*parts[:-1])):
                continue
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((name, "/".join(parts), st.st_size, st.st_mtime_ns, link))
    found.sort()
    return [SeedFile(root, rel, size, mtime, link) for _, rel, size, mtime, link in found]
