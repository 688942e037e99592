"""Remote sources in the SQLite store: each source's fetch state
(``sources``), what each source calls each entry it delivered
(``source_entries``), and the entries and revisions remote ingest adds.

Several sources may deliver one entry; the entry's ``origin`` is the item it
came from, and only that source's changes revise it.  New remote entries are
held back inside a transaction and written together (see ``_Held`` in
:mod:`feedsvc.store.core`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..models import Article, Entry, SectionPath, section_label
from .core import _translated, _translated_holding, _version_row
from .entries import EntriesMixin
from .records import Encoded, KnownItem, SourceItem, SourceState, _dt, _ts

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


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


class SourcesMixin(EntriesMixin):
    """Source states, source items, and the entries remote ingest writes."""

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
