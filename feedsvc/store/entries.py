"""Entries and their versions in the SQLite store: minting an entry's id and
page, adding versions, and the lookups deduplication needs.

An entry keeps every distinct version of its text; the current one is the
newest.  Ids and page paths are derived from the content hash (so runs are
reproducible), minted once and never recomputed.  The exact lookup
(:meth:`EntriesMixin.entry_for_content_hash`) and the near-duplicate ones
(:meth:`~EntriesMixin.load_signatures`, :meth:`~EntriesMixin.version_bodies`)
are what :class:`feedsvc.deduper.Deduper` asks of a store.
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..models import Article, Entry, VersionBody, section_label
from .core import _INSERT_VERSION, SQLiteCore, _Node, _translated, _version_row
from .records import Encoded, _day_parts, _dt, _ts, decode_strings

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# numpy (through feedsvc.dedup) is imported by the methods that handle
# signatures: a run that only refreshes sources or reads the store (a 304
# pass, ``feedsvc status``) does not pay its import, a tenth of a second.


class EntriesMixin(SQLiteCore):
    """Entries, versions, and the dedup lookups against them."""

    @_translated
    def entry_for_content_hash(self, h: bytes) -> str | None:
        """The entry that has (or had) a version with this content hash."""
        row = self._conn.execute(
            "SELECT e.id FROM versions v JOIN entries e ON e.seq = v.entry_seq"
            " WHERE v.content_hash = ? LIMIT 1", (h,)).fetchone()
        return None if row is None else str(row[0])

    # -- near-duplicate support ----------------------------------------------

    def version_body(self, version_id: int) -> VersionBody:
        """The entry, section and paragraphs of one version (near-duplicate checks)."""
        found = self.version_bodies([version_id])
        if not found:
            raise StoreError(f"no version {version_id}", where=self.path)
        return found[0]

    @_translated
    def version_bodies(self, version_ids: Iterable[int]) -> list[VersionBody]:
        """:meth:`version_body` of several versions in one query, in the order
        given; ids without a version (from a rolled-back file) are left out."""
        ids = list(version_ids)
        found = self._version_bodies(ids)
        return [found[v] for v in ids if v in found]

    def _version_bodies(self, ids: list[int]) -> dict[int, VersionBody]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            "SELECT v.id, e.id, e.section_id, v.paragraphs FROM versions v"  # noqa: S608
            f" JOIN entries e ON e.seq = v.entry_seq WHERE v.id IN ({marks})", ids).fetchall()
        return {vid: VersionBody(eid, self._path_of(sid), decode_strings(paras))
                for vid, eid, sid, paras in rows}

    # -- writes --------------------------------------------------------------

    def _insert_version(self, seq: int, article: Article, content_hash: bytes,
                        signature: npt.NDArray[np.uint64], source: str, now: datetime,
                        link: str | None = None, content_html: str | None = None) -> int:
        # No id given (None): SQLite numbers the row.
        cur = self._conn.execute(_INSERT_VERSION, _version_row(
            None, seq, _ts(now), source, content_hash, article, Encoded.of(article, signature),
            link, content_html))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _id_and_page(self, node: _Node, content_hash: bytes, now: datetime,
                     attempt: int) -> tuple[str, str]:
        """The entry id and page path minted for a new entry.

        Derived from the content hash, not random, so that runs are reproducible;
        a new entry's content hash is new, so a clash needs a 64-bit collision,
        and then ``attempt`` salts the hash.  Equal ids imply equal pages (same
        day, same tail), so a page that is free means an id that is free too.
        """
        day, folder = _day_parts(now.date())
        prefix = f"{node.slug_path}/" if node.slug_path else ""
        salt = b"" if attempt == 0 else attempt.to_bytes(4, "big")
        tail = hashlib.blake2b(content_hash + salt, digest_size=8).hexdigest()
        return f"tag:{self._authority},{day}:{prefix}{tail}", f"articles/{folder}/{tail}.html"

    def _free_id_and_page(self, node: _Node, content_hash: bytes, now: datetime,
                          pending: set[str]) -> tuple[str, str]:
        """:meth:`_id_and_page` of the first attempt whose page is neither
        stored nor among the ``pending`` pages of rows not written yet."""
        for attempt in itertools.count():
            entry_id, page = self._id_and_page(node, content_hash, now, attempt)
            if page not in pending and self._conn.execute(
                    "SELECT 1 FROM entries WHERE page = ?", (page,)).fetchone() is None:
                return entry_id, page
        raise AssertionError("unreachable")

    def _mint_entry(self, node: _Node, content_hash: bytes, now: datetime,
                    dates: tuple[datetime, datetime] | None = None) -> tuple[int, str, str]:
        """Insert the entry row with a fresh id and page; (seq, id, page).
        ``published`` and ``updated`` are ``now`` unless ``dates`` gives them."""
        stamp = _ts(now)
        published, updated = (_ts(dates[0]), _ts(dates[1])) if dates else (stamp, stamp)
        for attempt in itertools.count():
            entry_id, page = self._id_and_page(node, content_hash, now, attempt)
            try:
                cur = self._conn.execute(
                    "INSERT INTO entries (id, section_id, page, published, updated)"
                    " VALUES (?, ?, ?, ?, ?)", (entry_id, node.id, page, published, updated))
            except sqlite3.IntegrityError as exc:
                if "entries.page" in str(exc) or "entries.id" in str(exc):
                    continue
                raise
            assert cur.lastrowid is not None
            return cur.lastrowid, entry_id, page
        raise AssertionError("unreachable")

    @_translated
    def add_entry(self, article: Article, *, content_hash: bytes,
                  signature: npt.NDArray[np.uint64], source: str) -> Entry:
        """A new entry: mints its id, page and (if new) section nodes."""
        with self._savepoint():
            now = self._now()
            node = self._section(article.section)
            seq, entry_id, page = self._mint_entry(node, content_hash, now)
            version = self._insert_version(seq, article, content_hash, signature, source, now)
        return self._entry(article, seq, entry_id, version, now, now, page)

    @_translated
    def add_revision(self, entry_id: str, article: Article, *, content_hash: bytes,
                     signature: npt.NDArray[np.uint64], source: str) -> Entry:
        """A new current version of ``entry_id``: same id and ``published``,
        ``updated`` advances (never backwards, even if the clock does)."""
        with self._savepoint():
            row = self._conn.execute(
                "SELECT seq, section_id, published, updated, page FROM entries WHERE id = ?",
                (entry_id,)).fetchone()
            if row is None:
                raise StoreError(f"no entry {entry_id}", where=self.path)
            seq, section_id, published, updated, page = row
            if self._path_of(section_id) != article.section:
                raise StoreError(f"a revision of {entry_id} must stay in section "
                                 f"{section_label(self._path_of(section_id))!r}",
                                 where=self.path)
            now = max(self._now(), _dt(updated))
            version = self._insert_version(seq, article, content_hash, signature, source, now)
            self._conn.execute("UPDATE entries SET updated = ? WHERE seq = ?", (_ts(now), seq))
        return self._entry(article, seq, entry_id, version, _dt(published), now, page)

    @staticmethod
    def _entry(article: Article, seq: int, entry_id: str, version: int, published: datetime,
               updated: datetime, page: str) -> Entry:
        return Entry(id=entry_id, seq=seq, version=version, section=article.section,
                     title=article.title, authors=article.authors, credit=article.credit,
                     paragraphs=article.paragraphs, published=published, updated=updated,
                     page=page)

    def _seq(self, entry_id: str) -> tuple[int, int, str, str, str]:
        row = self._conn.execute(
            "SELECT seq, section_id, published, updated, page FROM entries WHERE id = ?",
            (entry_id,)).fetchone()
        if row is None:
            raise StoreError(f"no entry {entry_id}", where=self.path)
        return row[0], row[1], row[2], row[3], row[4]
