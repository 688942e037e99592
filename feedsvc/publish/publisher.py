"""Publishing: the store → article pages, section feeds and indexes in OUT.

Layout of the output folder (``OUT``)::

    OUT/atom.xml, OUT/rss.xml, OUT/index.html        everything (the root section)
    OUT/<slug path>/{atom.xml,rss.xml,index.html}    each section with entries in it or below
    OUT/articles/YYYY/MM/DD/<id>.html                one page per entry (Entry.page)
    OUT/.feedsvc-state.json                          what the files were made from

Order matters for readers polling during a publish: pages are written first,
then the feeds and indexes that link to them, and only then are stale files
removed.  Every write is atomic and skipped when the bytes are unchanged
(:mod:`feedsvc.atomic`), so publishing twice changes nothing on disk.

Work is skipped, not only writes.  The store remembers which version of
each page was last written (``page_states``): a page is rendered only if
its entry has a newer version, if the file is missing (one scan of OUT), or
if the way pages are rendered changed (templates, rendering code, site
settings: the ``pages`` fingerprint in the state file).  A section's feeds
are rebuilt only if the digest of what they are made from changed or one
of its files is missing.  Losing the state file costs time, never
correctness: everything is then rendered and compared.

Rendering pages is CPU work and there are two cores: when many pages are
due (a first publish, a lost output folder, a new way of rendering), a
second process (forked, so it shares what was already read) writes every
other entry's page; many sections to rebuild are shared out the same way.
A caller that runs threads (a scheduler) gets the same work done in one
process, because forking a threaded process is unsafe.

The root feeds and index are always published, from the first run on, so
that a reader can subscribe to a new deployment: without entries their
``updated`` is when the store was created (:meth:`Store.created`), never
the time of publishing, so republishing changes nothing.  Any other section
whose entries are all gone loses its three files and, if nothing else is in
it, its folder.  Files that feedsvc did not write are never removed: only
our file names are considered, and only if they carry feedsvc's generator
mark.  Article pages are removed only when their entry is hidden
(:mod:`feedsvc.store.admin`): other URLs were published and stay valid.

An entry that cannot be rendered is left out of the files it would be in,
and everything else is published (:mod:`feedsvc.publish.rendering`); the report
lists it (:attr:`PublishReport.skipped`), and the files it is missing from
are rendered again by every publish until it is fixed or hidden.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import TEMP_NAME, write_if_changed
from ..config import Config, SiteConfig
from ..errors import FeedsvcError, PublishError, StoreError
from ..models import Entry, Section, SectionPath
from ..store import SQLiteStore, Store
from .rendering import (
    ATOM_FILE,
    INDEX_FILE,
    RSS_FILE,
    Skipped,
    render_page,
    render_section,
)

SECTION_FILES = (ATOM_FILE, RSS_FILE, INDEX_FILE)
ARTICLES = "articles"
STATE_FILE = ".feedsvc-state.json"

#: How progress is reported: once per this many entries checked.
PROGRESS_STEP = 1000
#: Known pages missing on disk from which a second process is worth starting.
PARALLEL_MIN_PAGES = 2000
#: Sections to build from which a second process is worth starting (~20 ms each).
PARALLEL_MIN_SECTIONS = 8

# Every file feedsvc writes in a section folder carries one of these.
_GENERATOR_MARKS = (b">feedsvc</generator>", b'<meta name="generator" content="feedsvc">')

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What one publish did.  Feeds are the Atom and RSS files; pages are the
    article pages and the section ``index.html`` files."""

    feeds_written: int
    feeds_unchanged: int
    pages_written: int
    pages_unchanged: int
    files_removed: int
    duration: float
    #: entries that could not be rendered, and where they are missing
    skipped: tuple[Skipped, ...] = ()


@dataclass(slots=True)
class _Tally:
    feeds_written: int = 0
    feeds_unchanged: int = 0
    pages_written: int = 0
    pages_unchanged: int = 0
    files_removed: int = 0
    skipped: list[Skipped] = field(default_factory=list)


# ----------------------------------------------------------------------------- the folder


@dataclass(slots=True)
class _Disk:
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

    def scan(self) -> _Disk:
        disk = _Disk()
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


def _write(path: str | Path, data: bytes, *, durable: bool, known_absent: bool = False) -> bool:
    try:
        return write_if_changed(path, data, durable=durable, known_absent=known_absent)
    except OSError as exc:
        raise PublishError(f"cannot write: {exc.strerror}", where=path) from None


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise PublishError(f"cannot remove: {exc.strerror}", where=path) from None
    return True


def _ours(path: Path) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return any(mark in data for mark in _GENERATOR_MARKS)


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class _State:
    """``OUT/.feedsvc-state.json``: what the published files were made from."""

    pages: str = ""  # render fingerprint the page states were written under
    sections: dict[str, str] = field(default_factory=dict)  # slug path -> input digest

    @classmethod
    def load(cls, path: Path) -> _State:
        try:
            raw = json.loads(path.read_bytes())
            return cls(pages=str(raw["pages"]),
                       sections={str(k): str(v) for k, v in dict(raw["sections"]).items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls()  # missing or damaged: everything is checked again

    def dump(self) -> bytes:
        raw = {"pages": self.pages, "sections": dict(sorted(self.sections.items()))}
        return (json.dumps(raw, indent=1, ensure_ascii=True) + "\n").encode()


def render_fingerprint(site: SiteConfig) -> str:
    """Changes whenever the same entries would be published differently: other
    site settings, templates or rendering code (its source, so that an upgrade
    re-renders even without a new version number)."""
    digest = hashlib.sha256(f"feedsvc {__version__}\n{site!r}\n".encode())
    package = resources.files("feedsvc.publish")
    templates = sorted((package / "templates").iterdir(), key=lambda t: t.name)
    sources = [package / "feeds.py", package / "pages.py", package / "rendering.py"]
    for item in [*sources, *templates]:
        if item.name.endswith((".html", ".py")):
            digest.update(item.name.encode() + b"\0" + item.read_bytes() + b"\0")
    return digest.hexdigest()


# ----------------------------------------------------------------------------- pages


@dataclass(frozen=True, slots=True)
class _PageJob:
    """Everything one process needs to write its share of the pages."""

    out: OutputFolder
    files: set[str]
    states: dict[str, int]
    site: SiteConfig
    sections: dict[SectionPath, Section]
    shares: int


@dataclass(slots=True)
class _ShareResult:
    written: int = 0
    unchanged: int = 0
    published: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _write_share(job: _PageJob, store: Store, share: int, result: _ShareResult,
                 progress: Callable[[int], None] | None = None) -> None:
    """Write the pages of the entries whose ``seq % shares == share`` into ``result``.

    Staleness is decided from (seq, page, version) alone, so only the entries
    whose page must be written are loaded with their text."""
    due: list[int] = []
    rows = store.page_versions()
    for seq, page, version in rows:
        if seq % job.shares != share:
            continue
        if job.states.get(page) == version and page in job.files:
            result.unchanged += 1
        else:
            due.append(seq)
    # Progress counts every entry once: those not due (or another process's
    # share) are done as of now, the due ones as they are written.
    if progress is not None and len(rows) > len(due):
        progress(len(rows) - len(due))
    checked = 0
    for entry in store.iter_entries(due):
        checked += 1
        if progress is not None and checked % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
        data = render_page(entry, job.sections, job.site)
        if isinstance(data, Skipped):  # not marked published: tried again next time
            result.skipped.append(data)
            continue
        absent = entry.page not in job.files
        if _write(job.out.page_path(entry.page), data, durable=False, known_absent=absent):
            result.written += 1
        else:
            result.unchanged += 1
        result.published.append((entry.page, entry.version))
    if progress is not None and checked % PROGRESS_STEP:
        progress(checked % PROGRESS_STEP)


def _can_fork() -> bool:
    """Never a fork from a threaded process (a scheduler): a lock held by another
    thread at that moment would stay locked forever in the child."""
    return (os.cpu_count() or 1) > 1 and threading.active_count() == 1 \
        and "fork" in multiprocessing.get_all_start_methods()


class _Child:
    """``work()`` in a forked process (it shares what was read so far); its
    result, or its error, comes back through a pipe."""

    def __init__(self, work: Callable[[], object], where: Path) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=_child_main, args=(work, sender),
                                        name="feedsvc-publish", daemon=True)
        self._process.start()
        sender.close()
        self._where = where

    def result(self) -> Any:
        try:
            reply = self._receiver.recv()
        except EOFError:
            raise PublishError("a publishing process died", where=self._where) from None
        finally:
            self._receiver.close()
            self._process.join()
        if reply[0] == "error":
            kind = StoreError if reply[1] == StoreError.__name__ else PublishError
            raise kind(reply[2], where=reply[3])
        if reply[0] == "crash":
            raise RuntimeError(f"a publishing process failed:\n{reply[1]}")
        return reply[1]

    def kill(self) -> None:
        """Stopping (or failing): do not wait for the other half."""
        self._process.kill()
        self._receiver.close()
        self._process.join()


def _child_main(work: Callable[[], object], sender: Connection) -> None:
    reply: tuple[Any, ...]
    try:
        reply = ("ok", work())
    except FeedsvcError as exc:
        reply = ("error", type(exc).__name__, exc.message, exc.where)
    except BaseException:  # a bug: hand the traceback to the parent to report
        reply = ("crash", traceback.format_exc())
    sender.send(reply)
    sender.close()


def _in_two(mine: Callable[[], object], theirs: Callable[[], object], where: Path) -> Any:
    """Run ``theirs`` in a second process while ``mine`` runs here; its result."""
    child = _Child(theirs, where)
    try:
        mine()
    except BaseException:
        child.kill()
        raise
    return child.result()


def _shares(states: dict[str, int], files: set[str]) -> int:
    """Two processes for a bulk of pages (a first publish, a lost output
    folder, a new way of rendering), one otherwise: checking unchanged pages
    is cheap, and a second process would read every entry once more."""
    if not _can_fork():
        return 1
    missing = sum(1 for page in states if page not in files)
    return 2 if not states or missing >= PARALLEL_MIN_PAGES else 1


def _own_share(job: _PageJob, db: Path, share: int) -> _ShareResult:
    """A second process's share of the pages, read through its own connection."""
    result = _ShareResult()
    with SQLiteStore.open(db, site=job.site, readonly=True) as store:
        _write_share(job, store, share, result)
    return result


def _write_pages(job: _PageJob, store: Store, results: list[_ShareResult],
                 progress: Callable[[int], None] | None) -> None:
    """Write every page that needs it; each share's result goes into ``results``
    as soon as it exists, so that what is done can be marked even after a failure."""
    mine = _ShareResult()
    results.append(mine)
    if job.shares == 1:
        _write_share(job, store, 0, mine, progress)
        return
    results.append(_in_two(lambda: _write_share(job, store, 0, mine, progress),
                           lambda: _own_share(job, store.path, 1), job.out.root))


def _publish_pages(store: Store, out: OutputFolder, disk: _Disk, site: SiteConfig,
                   sections: dict[SectionPath, Section], trusted: bool, tally: _Tally,
                   progress: Callable[[int], None] | None) -> None:
    # A page is known current only if it was rendered the way we render now.
    states = store.page_states() if trusted else {}
    job = _PageJob(out=out, files=disk.files, states=states, site=site, sections=sections,
                   shares=_shares(states, disk.files))
    results: list[_ShareResult] = []
    try:
        _write_pages(job, store, results, progress)
    finally:
        # Marked only once on disk (a crash before this makes the next publish
        # check them again, never skip them), and also when stopped half-way.
        published = [page for result in results for page in result.published]
        if published:
            _mark(store, published)
    for result in results:
        tally.pages_written += result.written
        tally.pages_unchanged += result.unchanged
        tally.skipped += result.skipped


def _remove_hidden(store: Store, out: OutputFolder, disk: _Disk, tally: _Tally) -> None:
    """The pages of hidden entries go; showing an entry again writes its page
    anew, as any missing page is."""
    for page in store.hidden_pages():
        if page in disk.files:
            path = Path(out.page_path(page))
            if _ours(path):
                tally.files_removed += _remove(path)


def _mark(store: Store, published: Iterable[tuple[str, int]]) -> None:
    with store.batch():
        store.mark_pages_published(published)


# ----------------------------------------------------------------------------- sections


def _digest(fingerprint: str, config: Config, section: Section, entries: list[Entry],
            children: list[Section], sections: dict[SectionPath, Section],
            created: datetime) -> str:
    """Everything a section's three files are made from.  Whole entries, not
    just their versions: every field that may show (now or once the entry
    type grows) is covered without a list to keep up to date."""
    categories = [sections.get(e.section) for e in entries]
    parts = [fingerprint, repr(config.publish.summary_chars), repr(section), repr(created),
             repr([(c.path, c.slug_path) for c in children]), repr(categories),
             *map(repr, entries)]
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class _SectionJob:
    section: Section
    folder: Path
    entries: list[Entry]
    children: list[Section]


def _write_sections(jobs: Sequence[_SectionJob], config: Config,
                    sections: dict[SectionPath, Section], created: datetime) -> _Tally:
    tally = _Tally()
    for job in jobs:
        files, skipped = render_section(job.section, job.entries, job.children, config,
                                        sections, created)
        tally.skipped += skipped
        for name, data in files:
            written = _write(job.folder / name, data, durable=True)
            if name == INDEX_FILE:
                tally.pages_written += written
                tally.pages_unchanged += not written
            else:
                tally.feeds_written += written
                tally.feeds_unchanged += not written
    return tally


def _publish_sections(store: Store, config: Config, out: OutputFolder, disk: _Disk,
                      sections: list[Section], fingerprint: str, previous: _State,
                      tally: _Tally) -> tuple[set[Path], dict[str, str]]:
    """Feeds and index of every section with entries; their folders and digests.

    A section whose digest is unchanged and whose files are all there is not
    built at all; the others are built in two processes when there are many.
    The root is built even without entries.
    """
    by_path = {s.path: s for s in sections}
    created = store.created()
    entries = {s.path: store.feed_entries(s.path, config.publish.entries_per_feed)
               for s in sections}
    live = [s for s in sections if entries[s.path] or not s.path]
    folders: set[Path] = set()
    digests: dict[str, str] = {}
    todo: list[_SectionJob] = []
    for section in live:
        folder = out.section_dir(section)
        folders.add(folder)
        depth = len(section.path) + 1
        children = [c for c in live if len(c.path) == depth and c.path[:-1] == section.path]
        digest = _digest(fingerprint, config, section, entries[section.path], children, by_path,
                         created)
        digests[section.slug_path] = digest
        prefix = section.slug_path + "/" if section.slug_path else ""
        if previous.sections.get(section.slug_path) == digest and all(
                prefix + name in disk.files for name in SECTION_FILES):
            tally.feeds_unchanged += 2
            tally.pages_unchanged += 1
        else:
            todo.append(_SectionJob(section, folder, entries[section.path], children))
    done: list[_Tally] = []
    if len(todo) >= PARALLEL_MIN_SECTIONS and _can_fork():
        theirs = _in_two(
            lambda: done.append(_write_sections(todo[0::2], config, by_path, created)),
            lambda: _write_sections(todo[1::2], config, by_path, created), out.root)
        done.append(theirs)
    else:
        done.append(_write_sections(todo, config, by_path, created))
    for part in done:
        tally.feeds_written += part.feeds_written
        tally.feeds_unchanged += part.feeds_unchanged
        tally.pages_written += part.pages_written
        tally.pages_unchanged += part.pages_unchanged
        tally.skipped += part.skipped
        # Not remembered as done: the next publish renders it again, and says so.
        for skipped in part.skipped:
            digests.pop(skipped.section or "", None)
    return folders, digests


def _remove_stale(out: OutputFolder, disk: _Disk, live: set[Path], tally: _Tally) -> None:
    for relative in disk.temps:
        tally.files_removed += _remove(out.root / relative)
    stale = [d for d in disk.section_dirs if (out.root / d) not in live]
    # Deepest first, so that a parent folder is empty by the time it is tried.
    for relative in sorted(stale, key=lambda d: d.count("/") + bool(d), reverse=True):
        folder = out.root / relative
        for name in SECTION_FILES:
            path = folder / name
            if _ours(path):
                tally.files_removed += _remove(path)
        if relative:
            # Fails if not empty: someone else's files stay, and so does the folder.
            with suppress(OSError):
                folder.rmdir()


# ----------------------------------------------------------------------------- entry point


def publish(store: Store, config: Config, *,
            progress: Callable[[int], None] | None = None) -> PublishReport:
    """Write every page, feed and index the store calls for; remove stale ones
    and the pages of hidden entries.

    ``progress`` is called with the number of entries checked since its last
    call.  Raises :class:`PublishError` naming the path when OUT cannot be
    written.  Entries that cannot be rendered are left out, logged as
    warnings and listed in :attr:`PublishReport.skipped`.
    """
    started = time.monotonic()
    visibility = store.visibility_changes()  # hides and unhides this publish shows
    out = OutputFolder(config.publish.folder)
    disk = out.scan()
    state_path = out.root / STATE_FILE
    previous = _State.load(state_path)
    fingerprint = render_fingerprint(config.site)
    sections = store.sections()
    tally = _Tally()
    _publish_pages(store, out, disk, config.site, {s.path: s for s in sections},
                   previous.pages == fingerprint, tally, progress)
    live, digests = _publish_sections(store, config, out, disk, sections, fingerprint,
                                      previous, tally)
    _remove_hidden(store, out, disk, tally)
    _remove_stale(out, disk, live, tally)
    _write(state_path, _State(pages=fingerprint, sections=digests).dump(), durable=True)
    if not store.readonly:
        with store.batch():
            store.mark_visibility_published(visibility)
    for skipped in tally.skipped:
        log.warning("%s", skipped.describe())
    return PublishReport(
        feeds_written=tally.feeds_written,
        feeds_unchanged=tally.feeds_unchanged,
        pages_written=tally.pages_written,
        pages_unchanged=tally.pages_unchanged,
        files_removed=tally.files_removed,
        duration=time.monotonic() - started,
        skipped=tuple(tally.skipped),
    )


__all__ = ["OutputFolder", "PublishReport", "publish", "render_fingerprint"]
