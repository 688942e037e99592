"""What every part of the SQLite store shares: the connection and the clock,
transactions and savepoints, the rows held back to be written together, and
the section tree every entry hangs in.

:class:`SQLiteCore` is the base of the per-concern mixins (schema, files,
entries, sources, runs, publishing) that make up
:class:`~feedsvc.store.sqlite.SQLiteStore`: it holds the attributes they all
use, so each of them is its own SQL and little else.  Their public methods
are wrapped in ``_translated``: sqlite3 errors become :class:`StoreError`,
and held rows are written before anything else reads or writes.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..clock import Clock
from ..config import SiteConfig
from ..errors import StoreError
from ..models import Article, Section, SectionPath
from .records import Encoded, _ts, decode_strings, encode_strings
from .slugs import mint_slug

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="SQLiteCore")


@dataclass(frozen=True, slots=True)
class _Node:
    id: int
    path: SectionPath
    slug: str
    slug_path: str
    feed_id: str


def _translated(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """sqlite3 errors become StoreError naming the store file.  Rows held back
    by :meth:`SourcesMixin.add_remote_entry` are written first, so that every other
    call sees them."""
    return _translating(method, write_held=True)


def _translated_holding(method: Callable[Concatenate[S, P], R]
                        ) -> Callable[Concatenate[S, P], R]:
    """:func:`_translated` that leaves held rows held: for the method that adds to them."""
    return _translating(method, write_held=False)


def _translating(method: Callable[Concatenate[S, P], R], *, write_held: bool
                 ) -> Callable[Concatenate[S, P], R]:
    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            if write_held and self._held is not None:
                self._write_held()
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}", where=self.path) from exc

    return wrapper


@dataclass(slots=True)
class _Held:
    """New remote entries whose rows are written together (:meth:`SourcesMixin.add_remote_entry`).

    A feed brings its entries by the dozen and a run hundreds of feeds; four
    statements per entry, each with its own trip through the sqlite3 module,
    cost more than storing the entry itself.  Numbers are handed out as
    SQLite would (the transaction holds the write lock), so the rows can go
    in with ``executemany`` when anything else touches the store.
    """

    seq: int
    version: int
    item: int
    entries: list[tuple[Any, ...]]
    versions: list[tuple[Any, ...]]
    items: list[tuple[Any, ...]]
    keys: set[tuple[str, str]]  # (source, key) of the held items
    pages: set[str]
    bands: list[tuple[int, int]]  # rows of the held versions' band keys


# Rows written in bulk, with the numbers the writer handed out (see SQLiteBulkWriter, _Held).
_INSERT_ENTRY = """INSERT INTO entries (seq, id, section_id, page, published, updated)
    VALUES (?, ?, ?, ?, ?, ?)"""
_INSERT_BANDS = "INSERT OR IGNORE INTO bands (bucket, version_id) VALUES (?, ?)"
_INSERT_VERSION = """INSERT INTO versions (id, entry_seq, created, source, content_hash,
    signature, title, authors, credit, paragraphs, link, content_html)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def _version_row(version: int | None, seq: int, stamp: str, source: str, content_hash: bytes,
                 article: Article, encoded: Encoded, link: str | None = None,
                 content_html: str | None = None) -> tuple[Any, ...]:
    """The values of :data:`_INSERT_VERSION` for one version (``version`` None:
    the next row number)."""
    return (version, seq, stamp, source, content_hash, encoded.signature, article.title,
            encoded.authors, article.credit, encoded.paragraphs, link, content_html)


class SQLiteCore:
    """The state every mixin of the SQLite store uses, and what they share:
    transactions, held rows and the section tree."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock, site: SiteConfig,
                 readonly: bool) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._authority = site.tag_authority
        self.readonly = readonly
        self._depth = 0  # open savepoints
        self._in_file = False  # inside file_savepoint(): inner blocks need no savepoint
        self._nodes: dict[SectionPath, _Node] = {}
        self._paths: dict[int, SectionPath] = {}
        self._held: _Held | None = None  # new remote entries not written yet

    # -- transactions --------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self._conn.in_transaction:
            raise StoreError("a batch is already open", where=self.path)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._write_held()
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        self._held = None
        # An error may already have ended the transaction (SQLite does on a full disk).
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._load_sections()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for many files: committed when the block ends, rolled
        back whole if it raises."""
        try:
            with self._transaction():
                yield
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}", where=self.path) from exc

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        if self._in_file:
            # The caller's file savepoint already makes this block all-or-nothing;
            # a nested one would journal every page it touches a second time.
            yield
            return
        # Named by depth: few distinct statements, so sqlite3 keeps them prepared.
        name = f"sp{self._depth}"
        self._write_held()  # what came before the savepoint must not be undone with it
        self._conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
            self._write_held()
        except BaseException:
            self._held = None
            # An error that aborted the whole transaction leaves no savepoint to undo.
            if self._conn.in_transaction:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
            self._load_sections()
            raise
        finally:
            self._depth -= 1
        self._conn.execute(f"RELEASE {name}")

    @contextmanager
    def file_savepoint(self) -> Iterator[None]:
        """Everything written in the block stays or goes together; inside a
        batch, a failure undoes only this block."""
        try:
            with self._savepoint():
                self._in_file = True
                try:
                    yield
                finally:
                    self._in_file = False
        except sqlite3.Error as exc:
            raise StoreError(f"database error: {exc}", where=self.path) from exc

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    # -- sections ------------------------------------------------------------

    def _load_sections(self) -> None:
        """(Re)read the section tree; also after a rollback, which may have
        removed nodes created inside it."""
        self._nodes.clear()
        self._paths.clear()
        rows = self._conn.execute("SELECT id, path, slug, slug_path, feed_id FROM sections")
        for row_id, path_json, slug, slug_path, feed_id in rows:
            path = decode_strings(path_json)
            self._nodes[path] = _Node(row_id, path, slug, slug_path, feed_id)
            self._paths[row_id] = path

    def _feed_id(self, day: str, slug_path: str) -> str:
        return f"tag:{self._authority},{day}:feeds/{slug_path}" if slug_path else \
            f"tag:{self._authority},{day}:feeds"

    def _insert_section(self, path: SectionPath, parent: _Node | None, slug: str,
                        slug_path: str) -> _Node:
        now = self._now()
        feed_id = self._feed_id(now.date().isoformat(), slug_path)
        cur = self._conn.execute(
            "INSERT INTO sections (parent_id, name, path, slug, slug_path, feed_id, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (parent.id if parent else None, path[-1] if path else "", encode_strings(path),
             slug, slug_path, feed_id, _ts(now)))
        assert cur.lastrowid is not None
        node = _Node(cur.lastrowid, path, slug, slug_path, feed_id)
        self._nodes[path] = node
        self._paths[node.id] = path
        return node

    def _section(self, path: SectionPath) -> _Node:
        """The node for ``path``, minting it and its missing ancestors."""
        node = self._nodes.get(path)
        if node is not None:
            return node
        parent = self._section(path[:-1])
        siblings = {n.slug for n in self._nodes.values()
                    if len(n.path) == len(path) and n.path[:-1] == parent.path}
        slug = mint_slug(path[-1], siblings)
        slug_path = f"{parent.slug_path}/{slug}" if parent.slug_path else slug
        return self._insert_section(path, parent, slug, slug_path)

    def _as_section(self, node: _Node) -> Section:
        return Section(path=node.path, slug_path=node.slug_path, feed_id=node.feed_id)

    def _path_of(self, section_id: int) -> SectionPath:
        if section_id not in self._paths:  # minted by another process since we read them
            self._load_sections()
        return self._paths[section_id]

    @_translated
    def sections(self) -> list[Section]:
        """The root first, then every section node (each has an entry in it or
        below, since nodes are only minted for entries), parents before children."""
        self._load_sections()  # a long-lived reader sees nodes other processes added
        return [self._as_section(self._nodes[p]) for p in sorted(self._nodes)]

    # -- held rows -------------------------------------------------------------

    def _last_number(self, table: str) -> int:
        """The highest row number of ``table``: SQLite gives the next row this plus one."""
        number: int = self._conn.execute(
            f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()[0]  # noqa: S608
        return number

    def _hold(self) -> _Held:
        if self._held is None:
            self._held = _Held(self._last_number("entries"), self._last_number("versions"),
                               self._last_number("source_entries"), [], [], [], set(), set(), [])
        return self._held

    def _write_held(self) -> None:
        """Write the held entries: parents before children, for the foreign keys."""
        held, self._held = self._held, None
        if held is None:
            return
        conn = self._conn
        conn.executemany(_INSERT_ENTRY, held.entries)
        conn.executemany(_INSERT_VERSION, held.versions)
        conn.executemany("INSERT INTO source_entries (id, source, key, entry_seq, original_id,"
                         " original_link, norm_link, item_hash, published, updated,"
                         " feed_updated, first_seen, last_seen)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", held.items)
        # An entry and its origin refer to each other: the origin is set last.
        # (Deferring foreign keys instead makes SQLite scan entries, which has
        # no index on origin, for every origin row inserted.)
        conn.executemany("UPDATE entries SET origin = ? WHERE seq = ?",
                         [(row[0], row[3]) for row in held.items])
        conn.executemany(_INSERT_BANDS, held.bands)
