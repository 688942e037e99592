"""The SQLite store: the only module that speaks SQL.

Entries keep every distinct version of their text (``versions``), so nothing
is lost; the current version is the newest one, so a wrong merge is undone by
moving its version to an entry of its own.  Ids, page paths, section slugs
and feed ids are minted once, stored, and never recomputed.  Every file's
decision is kept in ``files``.

Transactions: the caller wraps a batch of files in :meth:`Store.batch` (one
transaction) and each file in :meth:`Store.file_savepoint`, so a failing file
rolls back alone and a killed process loses at most the open batch.  Each
write method also runs in its own savepoint, so it never leaves half a row.

Rows never leave this module: they become the frozen types of
:mod:`feedsvc.models` (or the small ones below) first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from ..clock import Clock, system_clock
from ..config import Config, SiteConfig
from ..errors import DataFolderError, StoreError
from ..models import (
    Article,
    Decision,
    Entry,
    EntryInfo,
    FileOutcome,
    Origin,
    SectionPath,
    VersionBody,
    section_label,
)
from ..names import from_store_key, printable, store_key
from .core import (
    _INSERT_ENTRY,
    _INSERT_VERSION,
    _translated,
    _version_row,
)
from .entries import EntriesMixin
from .files import _RECORD_FILE, FilesMixin
from .records import (
    SEEDS,
    Encoded,
    RunInfo,
    StoreStatus,
    _dt,
    _ts,
    decode_strings,
    encode_strings,
)
from .schema import SchemaMixin
from .sources import SourcesMixin

if TYPE_CHECKING:
    pass

# numpy (through feedsvc.dedup) is imported by the methods that handle
# signatures: a run that only refreshes sources or reads the store (a 304
# pass, ``feedsvc status``) does not pay its import, a tenth of a second.

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


class Store(SchemaMixin, FilesMixin, SourcesMixin, EntriesMixin):
    """An open store; use :meth:`open`."""

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, clock: Clock = system_clock, site: SiteConfig,
             readonly: bool = False) -> Store:
        """Open (creating and migrating unless ``readonly``) the store at ``path``."""
        path = Path(path).absolute()
        conn: sqlite3.Connection | None = None
        try:
            if readonly:
                if not path.is_file():
                    raise StoreError("no store here yet (nothing has been ingested)", where=path)
                conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
            else:
                _make_folder(path.parent)
                conn = sqlite3.connect(path, isolation_level=None)
            store = cls(conn, path, clock, site, readonly)
            store._prepare()
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot use the store: {exc}", where=path) from exc
            if isinstance(exc, OSError):
                raise StoreError(f"cannot create the store: {exc.strerror}", where=path) from exc
            raise
        return store

    def close(self) -> None:
        try:
            if not self.readonly and not self._conn.in_transaction:
                self._conn.execute("PRAGMA optimize")
        except sqlite3.Error:
            pass  # only advice for the query planner; closing matters more
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bulk ------------------------------------------------------------------

    @contextmanager
    def bulk(self) -> Iterator[BulkWriter]:
        """A batch of files written the fast way: see :class:`BulkWriter`.
        Committed when the block ends, rolled back whole if it raises."""
        with self.batch():  # which also turns sqlite3 errors into StoreError
            writer = BulkWriter(self)
            yield writer
            writer.flush()

    # -- runs ----------------------------------------------------------------

    @_translated
    def start_run(self, kind: str) -> int:
        cur = self._conn.execute("INSERT INTO runs (kind, started) VALUES (?, ?)",
                                 (kind, _ts(self._now())))
        assert cur.lastrowid is not None
        return cur.lastrowid

    @_translated
    def finish_run(self, run_id: int, counts: Mapping[str, int], error: str | None) -> None:
        self._conn.execute("UPDATE runs SET finished = ?, counts = ?, error = ? WHERE id = ?",
                           (_ts(self._now()), json.dumps(dict(counts), sort_keys=True), error,
                            run_id))

    @contextmanager
    def run(self, kind: str, counts: Callable[[], Mapping[str, int]]) -> Iterator[None]:
        """Record the block as a run of ``kind``: its counts (read when it ends)
        and the error that ended it, if any, for ``feedsvc status``."""
        run_id = self.start_run(kind)
        error: str | None = None
        try:
            yield
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.finish_run(run_id, counts(), error)

    # -- reading for the publisher -------------------------------------------

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

    # -- status and checks ---------------------------------------------------

    @_translated
    def status(self) -> StoreStatus:
        conn = self._conn
        per_section = conn.execute(
            "SELECT section_id, count(*) FROM entries GROUP BY section_id").fetchall()
        by_label = dict(sorted((section_label(self._path_of(sid)), n) for sid, n in per_section))
        entries = sum(by_label.values())
        versions: int = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        run = conn.execute("SELECT kind, started, finished, counts, error FROM runs"
                           " ORDER BY id DESC LIMIT 1").fetchone()
        last_run = None
        if run is not None:
            kind, started, finished, counts, error = run
            last_run = RunInfo(kind, _dt(started), _dt(finished) if finished else None,
                               json.loads(counts) if counts else {}, error)
        rejected = conn.execute(
            "SELECT path, coalesce(message, '') FROM files WHERE decision = ?"
            " ORDER BY source, path", (Decision.REJECTED.value,)).fetchall()
        hidden = conn.execute("SELECT id FROM entries WHERE hidden IS NOT NULL"
                              " ORDER BY hidden, seq").fetchall()
        return StoreStatus(by_label, entries, versions, last_run,
                           tuple((printable(from_store_key(r)), m) for r, m in rejected),
                           tuple(r[0] for r in hidden))

    @_translated
    def integrity_check(self) -> list[str]:
        """Problems found by SQLite's own checks and the store's invariants; [] when sound."""
        problems = [row[0] for row in self._conn.execute("PRAGMA integrity_check")
                    if row[0] != "ok"]
        for table, rowid, parent, _ in self._conn.execute("PRAGMA foreign_key_check"):
            problems.append(f"{table} row {rowid}: missing {parent} row")
        for (entry_id,) in self._conn.execute(
                "SELECT e.id FROM entries e"
                " WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.entry_seq = e.seq)"):
            problems.append(f"entry {entry_id}: has no version")
        return problems


@dataclass(slots=True)
class _Planned:
    """An entry row as a bulk batch knows it: stored before, or new in the batch."""

    seq: int
    section_id: int
    published: str
    updated: str
    page: str
    new: bool  # inserted by this batch (else: updated by it, if revised)


class BulkWriter:
    """The writes of one batch of files, kept in memory and written with one
    ``executemany`` per table when the batch ends (:meth:`Store.bulk`).

    A bulk ingest spends most of its time in per-statement overhead; this
    makes the work per file a few dictionary operations.  The batch holds the
    write lock (``BEGIN IMMEDIATE``) from the start, so entry and version
    numbers are handed out here exactly as SQLite would, and the lookups see
    the batch's own pending rows as if they were written already.  Atomicity
    is the batch's: a crash or an error loses the open batch, never part of a file.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        conn = store._conn
        self._conn = conn
        self._seq = store._last_number("entries")
        self._version = store._last_number("versions")
        self._entries: dict[str, _Planned] = {}  # id -> row, of entries this batch touches
        self._versions: list[tuple[Any, ...]] = []
        self._files: list[list[Any]] = []
        self._by_raw: dict[bytes, str] = {}
        self._by_content: dict[bytes, str] = {}
        # version -> (entry id, section, paragraphs as stored): decoded only
        # when asked for, which near-duplicate checks rarely do
        self._bodies: dict[int, tuple[str, SectionPath, str]] = {}
        self._pages: set[str] = set()

    # -- lookups (pending rows first, then the store) --------------------------

    def entry_for_raw_hash(self, raw_hash: bytes) -> str | None:
        found = self._by_raw.get(raw_hash)
        return found if found is not None else self._store.entry_for_raw_hash(raw_hash)

    def entry_for_content_hash(self, h: bytes) -> str | None:
        found = self._by_content.get(h)
        return found if found is not None else self._store.entry_for_content_hash(h)

    def version_bodies(self, version_ids: Iterable[int]) -> list[VersionBody]:
        ids = list(version_ids)
        found = self._store._version_bodies([v for v in ids if v not in self._bodies])
        for v in ids:
            if v in self._bodies:
                entry_id, section, paragraphs = self._bodies[v]
                found[v] = VersionBody(entry_id, section, decode_strings(paragraphs))
        return [found[v] for v in ids if v in found]

    # -- planning ----------------------------------------------------------------

    def _add_version(self, planned: _Planned, entry_id: str, article: Article,
                     content_hash: bytes, encoded: Encoded, source: str, stamp: str) -> int:
        self._version += 1
        self._versions.append(_version_row(self._version, planned.seq, stamp, source,
                                           content_hash, article, encoded))
        self._by_content.setdefault(content_hash, entry_id)
        self._bodies[self._version] = (entry_id, article.section, encoded.paragraphs)
        return self._version

    def add_entry(self, article: Article, *, content_hash: bytes, encoded: Encoded,
                  source: str) -> tuple[str, int]:
        """A new entry (as :meth:`Store.add_entry`); its id and version number."""
        store = self._store
        now = store._now()
        stamp = _ts(now)
        node = store._section(article.section)
        entry_id, page = store._free_id_and_page(node, content_hash, now, self._pages)
        self._seq += 1
        planned = _Planned(self._seq, node.id, stamp, stamp, page, new=True)
        self._entries[entry_id] = planned
        self._pages.add(page)
        return entry_id, self._add_version(planned, entry_id, article, content_hash, encoded,
                                           source, stamp)

    def add_revision(self, entry_id: str, article: Article, *, content_hash: bytes,
                     encoded: Encoded, source: str) -> tuple[str, int]:
        """A new current version of ``entry_id`` (as :meth:`Store.add_revision`)."""
        store = self._store
        planned = self._entries.get(entry_id)
        if planned is None:
            seq, section_id, published, updated, page = store._seq(entry_id)
            planned = _Planned(seq, section_id, published, updated, page, new=False)
            self._entries[entry_id] = planned
        if store._path_of(planned.section_id) != article.section:
            raise StoreError(f"a revision of {entry_id} must stay in section "
                             f"{section_label(store._path_of(planned.section_id))!r}",
                             where=store.path)
        planned.updated = _ts(max(store._now(), _dt(planned.updated)))
        return entry_id, self._add_version(planned, entry_id, article, content_hash, encoded,
                                           source, planned.updated)

    def record_file(self, relpath: str, *, size: int, mtime_ns: int, raw_hash: bytes,
                    outcome: FileOutcome, source: str = SEEDS) -> None:
        """As :meth:`Store.record_file`."""
        if outcome.entry_id is not None and raw_hash:
            self._by_raw.setdefault(raw_hash, outcome.entry_id)
        self._files.append([source, store_key(relpath), size, mtime_ns, raw_hash,
                            outcome.decision.value, outcome.entry_id, outcome.message, ""])

    # -- writing -----------------------------------------------------------------

    def flush(self) -> None:
        """Write everything planned; parents before children, for the foreign keys."""
        conn = self._conn
        new = [(p.seq, entry_id, p.section_id, p.page, p.published, p.updated)
               for entry_id, p in self._entries.items() if p.new]
        conn.executemany(_INSERT_ENTRY, new)
        conn.executemany(_INSERT_VERSION, self._versions)
        conn.executemany("UPDATE entries SET updated = ? WHERE seq = ?",
                         [(p.updated, p.seq) for p in self._entries.values() if not p.new])
        seen = _ts(self._store._now())  # when the batch's files were read, to the second
        for row in self._files:
            row[-1] = seen
        conn.executemany(_RECORD_FILE, self._files)
        self._entries.clear()
        self._versions.clear()
        self._files.clear()


def _make_folder(folder: Path) -> None:
    """The store's folder, created if need be; failing that is an I/O problem
    of the folder (exit 3), not an unusable store."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFolderError(f"cannot create the store's folder: {exc.strerror}",
                              where=folder) from None


def open_store(config: Config, *, readonly: bool = False) -> Store:
    """The store a configuration names (see :meth:`Store.open`)."""
    return Store.open(config.store.path, site=config.site, readonly=readonly)
