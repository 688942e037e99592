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
    _translated_holding,
    _version_row,
)
from .entries import EntriesMixin
from .files import _RECORD_FILE, FilesMixin
from .records import (
    SEEDS,
    Encoded,
    KnownItem,
    RunInfo,
    SourceItem,
    SourceState,
    StoreStatus,
    _dt,
    _ts,
    decode_strings,
    encode_strings,
)
from .schema import SchemaMixin

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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

_SELECT_SOURCES = """SELECT name, url, current_url, etag, last_modified, body_hash, last_fetch,
    last_status, last_error, errors, next_due, disabled, interval, note, title, site_link,
    feed_id, feed_updated FROM sources ORDER BY name"""

_SELECT_SOURCE = """SELECT name, url, current_url, etag, last_modified, body_hash, last_fetch,
    last_status, last_error, errors, next_due, disabled, interval, note, title, site_link,
    feed_id, feed_updated FROM sources WHERE name = ?"""

_SAVE_SOURCE = """INSERT INTO sources (name, url, current_url, etag, last_modified, body_hash,
    last_fetch, last_status, last_error, errors, next_due, disabled, interval, note, title,
    site_link, feed_id, feed_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET url = excluded.url, current_url = excluded.current_url,
    etag = excluded.etag, last_modified = excluded.last_modified,
    body_hash = excluded.body_hash, last_fetch = excluded.last_fetch,
    last_status = excluded.last_status, last_error = excluded.last_error,
    errors = excluded.errors, next_due = excluded.next_due, disabled = excluded.disabled,
    interval = excluded.interval, note = excluded.note, title = excluded.title,
    site_link = excluded.site_link, feed_id = excluded.feed_id,
    feed_updated = excluded.feed_updated"""


class Store(SchemaMixin, FilesMixin, EntriesMixin):
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

    # -- remote sources --------------------------------------------------------

    @staticmethod
    def _state(row: tuple[Any, ...], entries: int) -> SourceState:
        (name, url, current_url, etag, last_modified, body_hash, last_fetch, last_status,
         last_error, errors, next_due, disabled, interval, note, title, site_link, feed_id,
         feed_updated) = row
        return SourceState(
            name=name, url=url, current_url=current_url, etag=etag, last_modified=last_modified,
            body_hash=body_hash, last_fetch=_dt(last_fetch) if last_fetch else None,
            last_status=last_status, last_error=last_error, errors=errors,
            next_due=_dt(next_due) if next_due else None, disabled=disabled, interval=interval,
            note=note, title=title, site_link=site_link, feed_id=feed_id,
            feed_updated=_dt(feed_updated) if feed_updated else None, entries=entries)

    @_translated
    def source_states(self) -> dict[str, SourceState]:
        """name -> state, for every source ever fetched."""
        counts = dict(self._conn.execute(
            "SELECT source, count(*) FROM source_entries GROUP BY source").fetchall())
        rows = self._conn.execute(_SELECT_SOURCES)
        return {row[0]: self._state(row, counts.get(row[0], 0)) for row in rows}

    @_translated
    def source_state(self, name: str) -> SourceState | None:
        row = self._conn.execute(_SELECT_SOURCE, (name,)).fetchone()
        if row is None:
            return None
        count = self._conn.execute("SELECT count(*) FROM source_entries WHERE source = ?",
                                   (name,)).fetchone()[0]
        return self._state(row, count)

    @_translated
    def save_source_state(self, state: SourceState) -> None:
        """Insert or replace the state of ``state.name`` (``entries`` is ignored)."""
        opt = _ts
        values = (state.name, state.url, state.current_url, state.etag, state.last_modified,
                  state.body_hash, opt(state.last_fetch) if state.last_fetch else None,
                  state.last_status, state.last_error, state.errors,
                  opt(state.next_due) if state.next_due else None, state.disabled,
                  state.interval, state.note, state.title, state.site_link, state.feed_id,
                  opt(state.feed_updated) if state.feed_updated else None)
        self._conn.execute(_SAVE_SOURCE, values)

    @_translated
    def enable_source(self, name: str) -> bool:
        """Fetch a disabled source again, at once; False if it is unknown or not disabled."""
        cur = self._conn.execute(
            "UPDATE sources SET disabled = NULL, errors = 0, next_due = NULL"
            " WHERE name = ? AND disabled IS NOT NULL", (name,))
        return cur.rowcount > 0

    @_translated
    def known_items(self, source: str | None) -> dict[str, dict[str, KnownItem]]:
        """source -> key -> what the source delivered under that key before;
        for one source, or (None) for all in one query."""
        # Two statements, not "source = ? OR ? IS NULL": that one reads every row.
        sql = ("SELECT o.source, o.key, e.id, e.section_id, o.item_hash, o.updated,"
               " coalesce(f.source = o.source, 0) FROM source_entries o"
               " JOIN entries e ON e.seq = o.entry_seq"
               " LEFT JOIN source_entries f ON f.id = e.origin")
        rows = self._conn.execute(sql) if source is None else \
            self._conn.execute(sql + " WHERE o.source = ?", (source,))
        out: dict[str, dict[str, KnownItem]] = {}
        for name, key, entry_id, section_id, item_hash, updated, origin in rows:
            out.setdefault(name, {})[key] = KnownItem(
                entry_id, self._path_of(section_id), item_hash,
                _dt(updated) if updated else None, bool(origin))
        return out

    @_translated
    def known_hashes(self, source: str | None) -> dict[str, dict[str, bytes]]:
        """source -> key -> item hash: :meth:`known_items` without the joins,
        to tell what changed before anything is read from the store."""
        sql = "SELECT source, key, item_hash FROM source_entries"
        rows = self._conn.execute(sql) if source is None else \
            self._conn.execute(sql + " WHERE source = ?", (source,))
        out: dict[str, dict[str, bytes]] = {}
        for name, key, item_hash in rows:
            out.setdefault(name, {})[key] = item_hash
        return out

    @_translated
    def entry_for_link(self, norm_link: str) -> tuple[str, SectionPath, str | None] | None:
        """(entry id, section, origin source) of an entry some source delivered
        under this normalised link."""
        row = self._conn.execute(
            "SELECT e.id, e.section_id, f.source FROM source_entries o"
            " JOIN entries e ON e.seq = o.entry_seq LEFT JOIN source_entries f ON f.id = e.origin"
            " WHERE o.norm_link = ? ORDER BY o.id LIMIT 1", (norm_link,)).fetchone()
        return None if row is None else (row[0], self._path_of(row[1]), row[2])

    @_translated
    def norm_links(self) -> set[str]:
        """Every normalised link a source delivered an entry under."""
        rows = self._conn.execute(
            "SELECT DISTINCT norm_link FROM source_entries WHERE norm_link IS NOT NULL")
        return {row[0] for row in rows}

    @_translated
    def content_hashes(self) -> set[bytes]:
        """The content hash of every version (a membership test before a query)."""
        return {row[0] for row in self._conn.execute("SELECT DISTINCT content_hash FROM versions")}

    @_translated
    def entry_origin(self, entry_id: str) -> tuple[SectionPath, str | None] | None:
        """(section, origin source) of an entry; the source is None for seed entries."""
        row = self._conn.execute(
            "SELECT e.section_id, f.source FROM entries e"
            " LEFT JOIN source_entries f ON f.id = e.origin WHERE e.id = ?",
            (entry_id,)).fetchone()
        return None if row is None else (self._path_of(row[0]), row[1])

    def _upsert_item(self, item: SourceItem, seq: int, now: datetime) -> int:
        """Insert or update the source's row for ``item.key``; its id."""
        stamp = _ts(now)
        opt = [_ts(d) if d else None for d in (item.published, item.updated)]
        row = self._conn.execute(
            "INSERT INTO source_entries (source, key, entry_seq, original_id, original_link,"
            " norm_link, item_hash, published, updated, feed_updated, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source, key) DO UPDATE SET original_id = excluded.original_id,"
            " original_link = excluded.original_link, norm_link = excluded.norm_link,"
            " item_hash = excluded.item_hash, published = excluded.published,"
            " updated = excluded.updated, feed_updated = excluded.feed_updated,"
            " last_seen = excluded.last_seen RETURNING id",
            (item.source, item.key, seq, item.original_id, item.original_link,
             item.norm_link, item.item_hash, *opt, _ts(item.feed_updated), stamp,
             stamp)).fetchone()
        return int(row[0])

    @_translated
    def record_item(self, item: SourceItem, entry_id: str) -> None:
        """Remember that ``item.source`` delivers ``entry_id`` under ``item.key``
        (a duplicate of an entry from elsewhere, or an unchanged one)."""
        with self._savepoint():
            self._upsert_item(item, self._seq(entry_id)[0], self._now())

    def _remote_dates(self, item: SourceItem, now: datetime) -> tuple[datetime, datetime]:
        published = item.published or item.updated or now
        return published, max(item.updated or published, published)

    @_translated_holding
    def add_remote_entry(self, article: Article, item: SourceItem, *, link: str | None,
                         content_html: str, content_hash: bytes,
                         signature: npt.NDArray[np.uint64],
                         encoded: Encoded | None = None) -> Entry:
        """A new entry from a remote source.  ``published``/``updated`` are the
        source's dates; a missing one is the other, and with neither both are
        now (first seen).  That stands in for ordering only: no publication
        date is published that the source did not give (:attr:`Origin.dated`).

        Inside a transaction its rows are held back and written together with
        those of the entries that follow (:class:`_Held`), before any other
        call reads or writes, and before the enclosing savepoint or
        transaction ends.  ``encoded`` is the article's :class:`Encoded`, when
        the caller has it already."""
        held = self._held
        if not self._conn.in_transaction or \
                (held is not None and (item.source, item.key) in held.keys):
            self._write_held()
            return self._add_remote_entry_now(article, item, link=link,
                                              content_html=content_html,
                                              content_hash=content_hash, signature=signature)
        now = self._now()
        published, updated = self._remote_dates(item, now)
        node = self._section(article.section)
        held = self._hold()
        entry_id, page = self._free_id_and_page(node, content_hash, now, held.pages)
        held.seq += 1
        held.version += 1
        held.item += 1
        stamp = _ts(now)
        held.pages.add(page)
        held.keys.add((item.source, item.key))
        held.entries.append((held.seq, entry_id, node.id, page, _ts(published), _ts(updated)))
        held.versions.append(_version_row(held.version, held.seq, stamp, item.source,
                                          content_hash, article,
                                          encoded or Encoded.of(article, signature),
                                          link, content_html))
        held.items.append((held.item, item.source, item.key, held.seq, item.original_id,
                           item.original_link, item.norm_link, item.item_hash,
                           _ts(item.published) if item.published else None,
                           _ts(item.updated) if item.updated else None,
                           _ts(item.feed_updated), stamp, stamp))
        return Entry(id=entry_id, seq=held.seq, version=held.version, section=article.section,
                     title=article.title, authors=article.authors, credit=article.credit,
                     paragraphs=article.paragraphs, published=published, updated=updated,
                     page=page, link=link, content_html=content_html)

    def _add_remote_entry_now(self, article: Article, item: SourceItem, *, link: str | None,
                              content_html: str, content_hash: bytes,
                              signature: npt.NDArray[np.uint64]) -> Entry:
        with self._savepoint():
            now = self._now()
            published, updated = self._remote_dates(item, now)
            node = self._section(article.section)
            seq, entry_id, page = self._mint_entry(node, content_hash, now, (published, updated))
            version = self._insert_version(seq, article, content_hash, signature, item.source,
                                           now, link, content_html)
            origin = self._upsert_item(item, seq, now)
            self._conn.execute("UPDATE entries SET origin = ? WHERE seq = ?", (origin, seq))
        return Entry(id=entry_id, seq=seq, version=version, section=article.section,
                     title=article.title, authors=article.authors, credit=article.credit,
                     paragraphs=article.paragraphs, published=published, updated=updated,
                     page=page, link=link, content_html=content_html)

    @_translated
    def add_remote_revision(self, entry_id: str, article: Article, item: SourceItem, *,
                            link: str | None, content_html: str, updated: datetime,
                            content_hash: bytes, signature: npt.NDArray[np.uint64]) -> Entry:
        """A new current version of a remote entry from its own source: same id,
        section and ``published``; ``updated`` advances to ``updated`` (never
        backwards).  The item becomes the entry's origin."""
        with self._savepoint():
            seq, section_id, published, stored, page = self._seq(entry_id)
            if self._path_of(section_id) != article.section:
                raise StoreError(f"a revision of {entry_id} must stay in section "
                                 f"{section_label(self._path_of(section_id))!r}",
                                 where=self.path)
            now = self._now()
            new = max(updated, _dt(stored))
            version = self._insert_version(seq, article, content_hash, signature, item.source,
                                           now, link, content_html)
            origin = self._upsert_item(item, seq, now)
            self._conn.execute("UPDATE entries SET updated = ?, origin = ? WHERE seq = ?",
                               (_ts(new), origin, seq))
        return Entry(id=entry_id, seq=seq, version=version, section=article.section,
                     title=article.title, authors=article.authors, credit=article.credit,
                     paragraphs=article.paragraphs, published=_dt(published), updated=new,
                     page=page, link=link, content_html=content_html)

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
