"""Entry administration: find entries, and take one out of publishing and back.

Hiding an entry keeps it in the store with every version: the next publish
leaves it out of every feed and section index (the root's included) and
removes its article page; showing it again makes the next publish write
them all again.  The entry keeps its id, dates and page path throughout.
A revision of a hidden entry (its seed file edited, its remote item updated)
is stored as usual and stays hidden, and so does a file that duplicates it:
only :func:`unhide_entry` brings it back.

The command line (``feedsvc entries``) is a thin layer over these functions;
it shows what they return with :mod:`feedsvc.cli.entries`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EntryError
from ..models import EntryInfo, SectionPath
from .base import Store

#: Entries ``feedsvc entries`` lists unless told otherwise.
DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class VisibilityChange:
    """What :func:`hide_entry` or :func:`unhide_entry` did."""

    entry_id: str
    hidden: bool  # the entry's state now
    changed: bool  # False: it was in that state already


def find_section(store: Store, name: str) -> SectionPath:
    """The section a person names by its label (``National / Politics``, any
    case and spacing) or its slug path (``national/politics``)."""
    wanted = tuple(part.strip().casefold() for part in name.split("/"))
    for section in store.sections():
        if section.path and (tuple(p.casefold() for p in section.path) == wanted
                             or section.slug_path == name.strip().strip("/")):
            return section.path
    raise EntryError(f"no section {name!r}", where=store.path)


def list_entries(store: Store, *, section: str | None = None, source: str | None = None,
                 search: str | None = None, hidden: bool | None = None,
                 limit: int | None = DEFAULT_LIMIT) -> list[EntryInfo]:
    """Entries, newest first: in ``section`` or below it, delivered by
    ``source`` (a ``[[sources]]`` name, or ``seeds``), whose title contains
    ``search`` (ignoring case) or whose id or page is ``search``; only hidden
    ones (``hidden=True``) or only published ones (``False``); at most
    ``limit`` (None: all)."""
    paths = None
    if section is not None:
        top = find_section(store, section)
        paths = [s.path for s in store.sections() if s.path[:len(top)] == top]
    needle = search.casefold() if search else None
    found: list[EntryInfo] = []
    if limit is not None and limit <= 0:
        return found
    for info in store.entry_infos(sections=paths, source=source, hidden=hidden):
        if needle is not None and needle not in info.title.casefold() \
                and search not in (info.id, info.page):
            continue
        found.append(info)
        if limit is not None and len(found) >= limit:
            break
    return found


def _set(store: Store, ref: str, hidden: bool) -> VisibilityChange:
    done = store.set_hidden(ref, hidden)
    if done is None:
        raise EntryError(f"no entry {ref!r} (give an id or a page path, as "
                         "`feedsvc entries` lists them)", where=store.path)
    return VisibilityChange(done[0], hidden, done[1])


def hide_entry(store: Store, ref: str) -> VisibilityChange:
    """Take the entry with id (or page path) ``ref`` out of publishing.
    Raises :class:`EntryError` when there is no such entry."""
    return _set(store, ref, True)


def unhide_entry(store: Store, ref: str) -> VisibilityChange:
    """Publish a hidden entry again (as :func:`hide_entry`)."""
    return _set(store, ref, False)


__all__ = ["DEFAULT_LIMIT", "VisibilityChange", "find_section", "hide_entry", "list_entries",
           "unhide_entry"]
