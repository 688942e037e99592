"""Publishing: the store → article pages, section feeds and indexes in OUT.

Layout of the output folder (``OUT``)::

    OUT/atom.xml, OUT/rss.xml, OUT/index.html        everything (the root section)
    OUT/<slug path>/{atom.xml,rss.xml,index.html}    each section with entries in it or below
    OUT/articles/YYYY/MM/DD/<id>.html                one page per entry (Entry.page)
    OUT/.feedsvc-state.json                          what the files were made from

Order matters for readers polling during a publish: pages are written first,
then the feeds and indexes that link to them, and only then are stale files
removed.  Every write is atomic and skipped when the bytes are unchanged
(:mod:`feedsvc.atomic`, through :mod:`feedsvc.publish.output`), so publishing
twice changes nothing on disk.

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
process, because forking a threaded process is unsafe
(:mod:`feedsvc.publish.workers`).

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
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

from .. import __version__
from ..config import Config, SiteConfig
from ..models import Entry, Section, SectionPath
from ..store import Store
from .output import SECTION_FILES, STATE_FILE, Disk, OutputFolder, PublishState, ours, remove, write
from .rendering import INDEX_FILE, Skipped, render_section
from .workers import PageJob, ShareResult, can_fork, in_two, page_shares, write_pages

#: Sections to build from which a second process is worth starting (~20 ms each).
PARALLEL_MIN_SECTIONS = 8

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


# ----------------------------------------------------------------------------- rendering


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


def _publish_pages(store: Store, out: OutputFolder, disk: Disk, site: SiteConfig,
                   sections: dict[SectionPath, Section], trusted: bool, tally: _Tally,
                   progress: Callable[[int], None] | None) -> None:
    # A page is known current only if it was rendered the way we render now.
    states = store.page_states() if trusted else {}
    job = PageJob(out=out, files=disk.files, states=states, site=site, sections=sections,
                  shares=page_shares(states, disk.files))
    results: list[ShareResult] = []
    try:
        write_pages(job, store, results, progress)
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


def _remove_hidden(store: Store, out: OutputFolder, disk: Disk, tally: _Tally) -> None:
    """The pages of hidden entries go; showing an entry again writes its page
    anew, as any missing page is."""
    for page in store.hidden_pages():
        if page in disk.files:
            path = Path(out.page_path(page))
            if ours(path):
                tally.files_removed += remove(path)


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
            written = write(job.folder / name, data, durable=True)
            if name == INDEX_FILE:
                tally.pages_written += written
                tally.pages_unchanged += not written
            else:
                tally.feeds_written += written
                tally.feeds_unchanged += not written
    return tally


def _publish_sections(store: Store, config: Config, out: OutputFolder, disk: Disk,
                      sections: list[Section], fingerprint: str, previous: PublishState,
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
    if len(todo) >= PARALLEL_MIN_SECTIONS and can_fork():
        theirs = in_two(
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


def _remove_stale(out: OutputFolder, disk: Disk, live: set[Path], tally: _Tally) -> None:
    for relative in disk.temps:
        tally.files_removed += remove(out.root / relative)
    stale = [d for d in disk.section_dirs if (out.root / d) not in live]
    # Deepest first, so that a parent folder is empty by the time it is tried.
    for relative in sorted(stale, key=lambda d: d.count("/") + bool(d), reverse=True):
        folder = out.root / relative
        for name in SECTION_FILES:
            path = folder / name
            if ours(path):
                tally.files_removed += remove(path)
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
    previous = PublishState.load(state_path)
    fingerprint = render_fingerprint(config.site)
    sections = store.sections()
    tally = _Tally()
    _publish_pages(store, out, disk, config.site, {s.path: s for s in sections},
                   previous.pages == fingerprint, tally, progress)
    live, digests = _publish_sections(store, config, out, disk, sections, fingerprint,
                                      previous, tally)
    _remove_hidden(store, out, disk, tally)
    _remove_stale(out, disk, live, tally)
    write(state_path, PublishState(pages=fingerprint, sections=digests).dump(), durable=True)
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


__all__ = ["PublishReport", "publish", "render_fingerprint"]
