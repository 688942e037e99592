"""The output folder on disk: where files go, what is already there, and the state file.

:class:`OutputFolder` checks that every path written lies inside OUT and
scans what OUT held before a publish (:class:`Disk`); :func:`write` and
:func:`remove` turn OS errors into :class:`~feedsvc.errors.PublishError`
naming the path; :func:`ours` tells feedsvc's files from anyone else's; and
:class:`PublishState` is ``OUT/.feedsvc-state.json``, what the published
files were made from.  What to write is decided in
:mod:`feedsvc.publish.publisher`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import TEMP_NAME, write_if_changed
from ..errors import PublishError
from ..models import Section
from .rendering import ATOM_FILE, INDEX_FILE, RSS_FILE

__all__ = [
    "ARTICLES",
    "SECTION_FILES",
    "STATE_FILE",
    "Disk",
    "OutputFolder",
    "PublishState",
    "ours",
    "remove",
    "write",
]

SECTION_FILES = (ATOM_FILE, RSS_FILE, INDEX_FILE)
ARTICLES = "articles"
STATE_FILE = ".feedsvc-state.json"

# Every file feedsvc writes in a section folder carries one of these.
_GENERATOR_MARKS = (b">feedsvc</generator>", b'<meta name="generator" content="feedsvc">')


# ----------------------------------------------------------------------------- the folder


@dataclass(slots=True)
class Disk:
    """What OUT held before this publish (relative POSIX paths; "" is OUT)."""

    files: set[str] = field(default_factory=set)
    section_dirs: set[str] = field(default_factory=set)  # holding a file named like ours
    temps: list[str] = field(default_factory=list)  # ours, left by an interrupted publish


class OutputFolder:
    """The output folder.  Every path written is checked to lie inside it."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.root = folder.resolve(strict=True)
        except OSError as exc:
            raise PublishError(f"cannot create the output folder: {exc.strerror}",
                               where=folder) from None
        if not self.root.is_dir():
            raise PublishError("the output folder is not a folder", where=folder)
        self._dirs: dict[str, str] = {}
        self._section_dirs: set[Path] = set()

    def _inside(self, relative: str) -> Path:
        """``OUT/relative`` with symlinks resolved; refused unless strictly inside OUT."""
        target = (self.root / relative).resolve()
        if target == self.root or not target.is_relative_to(self.root):
            raise PublishError(f"refusing to write outside the output folder ({relative!r})",
                               where=target)
        return target

    def section_dir(self, section: Section) -> Path:
        """The folder of a section, created; refuses a slug path that leaves OUT
        or lands in another section's folder."""
        folder = self._inside(section.slug_path) if section.slug_path else self.root
        if folder in self._section_dirs:
            raise PublishError(f"section {section.slug_path!r} would share a folder with "
                               "another section", where=folder)
        self._section_dirs.add(folder)
        _makedirs(folder)
        return folder

    def page_path(self, page: str) -> str:
        """The file of an article page; its folder is checked once and created."""
        relative_dir, _, name = page.rpartition("/")
        if not name.endswith(".html") or name.startswith(".") or not relative_dir:
            raise PublishError(f"not a page path: {page!r}", where=self.root)
        folder = self._dirs.get(relative_dir)
        if folder is None:
            resolved = self._inside(relative_dir)
            _makedirs(resolved)
            folder = self._dirs[relative_dir] = str(resolved)
        return f"{folder}/{name}"

    def scan(self) -> Disk:
        disk = Disk()
        stack = [""]
        while stack:
            relative = stack.pop()
            prefix = relative + "/" if relative else ""
            try:
                with os.scandir(self.root / relative) as it:
                    for item in it:
                        path = prefix + item.name
                        if item.is_dir(follow_symlinks=False):
                            stack.append(path)
                            continue
                        disk.files.add(path)
                        if item.name in SECTION_FILES:
                            disk.section_dirs.add(relative)
                        elif _is_our_temp(relative, item.name):
                            disk.temps.append(path)
            except OSError as exc:
                raise PublishError(f"cannot read the output folder: {exc.strerror}",
                                   where=self.root / relative) from None
        return disk


def _is_our_temp(folder: str, name: str) -> bool:
    match = TEMP_NAME.fullmatch(name)
    if match is None:
        return False
    target = match["target"]
    if target in SECTION_FILES or (not folder and target == STATE_FILE):
        return True
    in_articles = folder == ARTICLES or folder.startswith(ARTICLES + "/")
    return in_articles and target.endswith(".html")


def _makedirs(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot create folder: {exc.strerror}", where=folder) from None


def write(path: str | Path, data: bytes, *, durable: bool, known_absent: bool = False) -> bool:
    """:func:`~feedsvc.atomic.write_if_changed`; an OS error is a :class:`PublishError`."""
    try:
        return write_if_changed(path, data, durable=durable, known_absent=known_absent)
    except OSError as exc:
        raise PublishError(f"cannot write: {exc.strerror}", where=path) from None


def remove(path: Path) -> bool:
    """Remove a file; False if it was already gone."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise PublishError(f"cannot remove: {exc.strerror}", where=path) from None
    return True


def ours(path: Path) -> bool:
    """Whether the file carries feedsvc's generator mark (only such files are removed)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return any(mark in data for mark in _GENERATOR_MARKS)


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class PublishState:
    """``OUT/.feedsvc-state.json``: what the published files were made from."""

    pages: str = ""  # render fingerprint the page states were written under
    sections: dict[str, str] = field(default_factory=dict)  # slug path -> input digest

    @classmethod
    def load(cls, path: Path) -> PublishState:
        try:
            raw = json.loads(path.read_bytes())
            return cls(pages=str(raw["pages"]),
                       sections={str(k): str(v) for k, v in dict(raw["sections"]).items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls()  # missing or damaged: everything is checked again

    def dump(self) -> bytes:
        raw = {"pages": self.pages, "sections": dict(sorted(self.sections.items()))}
        return (json.dumps(raw, indent=1, ensure_ascii=True) + "\n").encode()
