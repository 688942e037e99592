"""What publishing reads from the SQLite store, and what it records there:
entries with their current versions (newest first, per section), the
version each page was last written from (``pages``), and which entries are
hidden and whether a publish has shown each hide and unhide (``counters``).

The administration of entries (:mod:`feedsvc.store.admin`) lists entries
through :meth:`PublishingMixin.entry_infos` and hides them through
:meth:`PublishingMixin.set_hidden`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import Any

from ..errors import StoreError
from ..models import Entry, EntryInfo, Origin, SectionPath
from .core import SQLiteCore, _translated
from .records import _dt, _ts, decode_strings, encode_strings

# An entry with its current (newest) version; versions(entry_seq) makes the max a seek.
# Remote entries bring their origin (NULL for seeds: the joins then cost nothing).
_SELECT_ENTRIES = """SELECT e.seq, e.id, v.id, e.section_id, v.title, v.authors, v.credit,
    v.paragraphs, e.published, e.updated, e.page, v.link, v.content_html,
    o.source, o.original_id, o.published IS NOT NULL, o.feed_updated,
    s.title, s.feed_id, coalesce(s.current_url, s.url), s.site_link FROM entries e
    JOIN versions v ON v.id = (SELECT max(id) FROM versions WHERE entry_seq = e.seq)
    LEFT JOIN source_entries o ON o.id = e.origin LEFT JOIN sources s ON s.name = o.source"""


_SELECT_INFOS = """SELECT e.id, e.section_id, v.title, v.source, e.published, e.updated, e.page,
    e.hidden FROM entries e
    JOIN versions v ON v.id = (SELECT max(id) FROM versions WHERE entry_seq = e.seq)"""

# counters: hides and unhides so far, and how many of them a publish has shown
_CHANGES, _SHOWN = "visibility_changes", "visibility_published"
_SET_COUNTER = """INSERT INTO counters (name, value) VALUES (?, ?)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value"""


class PublishingMixin(SQLiteCore):
    """Entries as publishing reads them, published pages, and hidden entries."""

    def _row_entry(self, row: tuple[Any, ...]) -> Entry:
        seq, entry_id, version, section_id, title, authors, credit, paragraphs, published, \
            updated, page, link, content, source = row[:14]
        origin = None
        if source is not None:
            original_id, dated, feed_updated, feed_title, feed_id, feed_url, site = row[14:]
            origin = Origin(source=source, feed_url=feed_url, feed_id=feed_id or feed_url,
                            feed_title=feed_title or source, feed_link=site,
                            feed_updated=_dt(feed_updated), original_id=original_id,
                            dated=bool(dated))
        return Entry(id=entry_id, seq=seq, version=version, section=self._path_of(section_id),
                     title=title, authors=decode_strings(authors), credit=credit,
                     paragraphs=decode_strings(paragraphs), published=_dt(published),
                     updated=_dt(updated), page=page, link=link, content_html=content,
                     origin=origin)

    @_translated
    def feed_entries(self, section: SectionPath, limit: int) -> list[Entry]:
        """The newest ``limit`` entries of ``section`` and its descendants
        (``updated`` descending, then ``seq`` descending); hidden ones left out.

        Each node is read through its (section_id, updated, seq) index with
        its own LIMIT and the short lists merged here: SQLite cannot merge
        ordered index ranges of an IN list, and would sort every row below
        the node instead.
        """
        n = len(section)
        ids = [node.id for path, node in self._nodes.items() if path[:n] == section]
        heads: list[tuple[str, int]] = []
        for section_id in ids:
            heads += self._conn.execute(
                "SELECT updated, seq FROM entries WHERE section_id = ? AND hidden IS NULL"
                " ORDER BY updated DESC, seq DESC LIMIT ?", (section_id, limit)).fetchall()
        heads.sort(reverse=True)
        return list(self._entries_in_order([seq for _, seq in heads[:limit]]))

    def _entries_in_order(self, seqs: list[int]) -> Iterator[Entry]:
        """Entries for ``seqs`` in the order given (missing ones skipped)."""
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            marks = ",".join("?" * len(chunk))
            # Only placeholders are interpolated.
            rows = self._conn.execute(f"{_SELECT_ENTRIES} WHERE e.seq IN ({marks})", chunk)
            by_seq = {row[0]: row for row in rows}
            yield from (self._row_entry(by_seq[s]) for s in chunk if s in by_seq)

    def iter_entries(self, seqs: Collection[int] | None = None) -> Iterator[Entry]:
        """All entries (or those with the given ``seq``), in ``seq`` order, streamed."""
        try:
            self._write_held()
            if seqs is None:
                cur = self._conn.execute(_SELECT_ENTRIES + " ORDER BY e.seq")
                while rows := cur.fetchmany(500):
                    yield from map(self._row_entry, rows)
            else:
                yield from self._entries_in_order(sorted(set(seqs)))
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}", where=self.path) from exc

    @_translated
    def has_unpublished(self) -> bool:
        """True when some version is newer than every page a publish has written,
        or an entry was hidden or shown again since the last publish: another
        process (``feedsvc ingest``, ``feedsvc entries hide``) changed the store."""
        # A hidden entry's revisions have no page to wait for.
        row = self._conn.execute(
            "SELECT EXISTS (SELECT 1 FROM versions v JOIN entries e ON e.seq = v.entry_seq"
            " WHERE v.id > (SELECT coalesce(max(version_id), 0) FROM pages)"
            " AND e.hidden IS NULL)").fetchone()
        return bool(row[0]) or self.visibility_changes() != self._counter(_SHOWN)

    @_translated
    def page_versions(self) -> list[tuple[int, str, int]]:
        """(seq, page, current version id) of every entry not hidden: what a
        publish needs to find stale pages without loading any entry's text."""
        return self._conn.execute(
            "SELECT e.seq, e.page, max(v.id) FROM entries e JOIN versions v"
            " ON v.entry_seq = e.seq WHERE e.hidden IS NULL GROUP BY e.seq"
            " ORDER BY e.seq").fetchall()

    @_translated
    def page_states(self) -> dict[str, int]:
        """Page path -> the version id it was last written from."""
        return dict(self._conn.execute("SELECT path, version_id FROM pages").fetchall())

    @_translated
    def mark_pages_published(self, pages: Iterable[tuple[str, int]]) -> None:
        with self._savepoint():
            self._conn.executemany(
                "INSERT INTO pages (path, version_id) VALUES (?, ?)"
                " ON CONFLICT (path) DO UPDATE SET version_id = excluded.version_id", pages)

    # -- hidden entries --------------------------------------------------------

    def _counter(self, name: str) -> int:
        row = self._conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    @_translated
    def visibility_changes(self) -> int:
        """How many times an entry was hidden or shown again, ever."""
        return self._counter(_CHANGES)

    @_translated
    def mark_visibility_published(self, changes: int) -> None:
        """A publish has shown every hide and unhide up to count ``changes``."""
        self._conn.execute(_SET_COUNTER, (_SHOWN, changes))

    @_translated
    def set_hidden(self, ref: str, hidden: bool) -> tuple[str, bool] | None:
        """Hide (or show again) the entry whose id or page path is ``ref``:
        (its id, whether that changed anything); None if there is no such entry.
        Only the ``hidden`` stamp changes, so revisions keep arriving and stay hidden."""
        with self._savepoint():
            row = self._conn.execute("SELECT seq, id, hidden FROM entries WHERE id = ? OR"
                                     " page = ? ORDER BY id = ? DESC LIMIT 1",
                                     (ref, ref, ref)).fetchone()
            if row is None:
                return None
            seq, entry_id, stamp = row
            if (stamp is not None) == hidden:
                return entry_id, False
            self._conn.execute("UPDATE entries SET hidden = ? WHERE seq = ?",
                               (_ts(self._now()) if hidden else None, seq))
            self._conn.execute(_SET_COUNTER, (_CHANGES, self._counter(_CHANGES) + 1))
        return entry_id, True

    @_translated
    def hidden_pages(self) -> list[str]:
        """The page paths of the hidden entries (their files are removed)."""
        return [r[0] for r in self._conn.execute(
            "SELECT page FROM entries WHERE hidden IS NOT NULL ORDER BY seq")]

    @_translated
    def created(self) -> datetime:
        """When the store was made (its root section minted): the date of a
        feed without entries, the same on every publish."""
        row = self._conn.execute("SELECT created FROM sections WHERE path = ?",
                                 (encode_strings(()),)).fetchone()
        if row is None:
            raise StoreError("the store has no root section", where=self.path)
        return _dt(row[0])

    def entry_infos(self, *, sections: Collection[SectionPath] | None = None,
                    source: str | None = None, hidden: bool | None = None
                    ) -> Iterator[EntryInfo]:
        """Entries newest first (``updated``, then ``seq``), streamed: those in
        ``sections``, delivered by ``source`` (the origin of any version, or
        ``seeds``) and hidden or not, as asked (None: no condition)."""
        where: list[str] = []
        args: list[object] = []
        if sections is not None:
            ids = [self._nodes[p].id for p in sections if p in self._nodes]
            where.append(f"e.section_id IN ({','.join('?' * len(ids)) or 'NULL'})")
            args += ids
        if source is not None:
            where.append("(EXISTS (SELECT 1 FROM versions w WHERE w.entry_seq = e.seq"
                         " AND w.source = ?) OR EXISTS (SELECT 1 FROM source_entries o"
                         " WHERE o.entry_seq = e.seq AND o.source = ?))")
            args += [source, source]
        if hidden is not None:
            where.append("e.hidden IS NOT NULL" if hidden else "e.hidden IS NULL")
        sql = _SELECT_INFOS + (" WHERE " + " AND ".join(where) if where else "") + \
            " ORDER BY e.updated DESC, e.seq DESC"
        try:
            self._write_held()
            cur = self._conn.execute(sql, args)
            while rows := cur.fetchmany(500):
                for entry_id, section_id, title, src, published, updated, page, stamp in rows:
                    yield EntryInfo(entry_id, self._path_of(section_id), title, src,
                                    _dt(published), _dt(updated), page,
                                    _dt(stamp) if stamp else None)
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}", where=self.path) from exc
