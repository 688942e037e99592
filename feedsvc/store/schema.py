"""The SQLite store's schema: the migrations that build it, and what opening
a store checks and sets before anything else.

``PRAGMA user_version`` counts the :data:`MIGRATIONS` applied; a writing open
applies the missing ones, a read-only open refuses a store that lacks some.
A database of another application is refused untouched, before WAL mode or
anything else changes the file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import StoreError
from .core import SQLiteCore

if TYPE_CHECKING:
    # Imported where the schema changes: most starts find it up to date.
    from sqlite_utils import Database


def _m1_initial(db: Database) -> None:
    db.table("sections").create(
        {"id": int, "parent_id": int, "name": str, "path": str, "slug": str,
         "slug_path": str, "feed_id": str, "created": str},
        pk="id", not_null=["name", "path", "slug", "slug_path", "feed_id", "created"],
        foreign_keys=[("parent_id", "sections", "id")], strict=True)
    db.table("sections").create_index(["path"], unique=True)
    db.table("sections").create_index(["slug_path"], unique=True)
    db.table("sections").create_index(["parent_id", "slug"], unique=True)
    db.table("entries").create(
        {"seq": int, "id": str, "section_id": int, "page": str, "published": str,
         "updated": str},
        pk="seq", not_null=["id", "section_id", "page", "published", "updated"],
        foreign_keys=[("section_id", "sections", "id")], strict=True)
    db.table("versions").create(
        {"id": int, "entry_seq": int, "created": str, "source": str, "content_hash": bytes,
         "signature": bytes, "title": str, "authors": str, "credit": str, "paragraphs": str},
        pk="id", not_null=["entry_seq", "created", "source", "content_hash", "signature",
                           "title", "authors", "paragraphs"],
        foreign_keys=[("entry_seq", "entries", "seq")], strict=True)
    db.table("entries").create_index(["id"], unique=True)
    db.table("entries").create_index(["page"], unique=True)
    db.table("entries").create_index(["section_id", "updated", "seq"])
    db.table("versions").create_index(["content_hash"])
    db.table("versions").create_index(["entry_seq"])
    # path: relative to the source's folder (seeds) or a URL (remote sources);
    # a name that is not UTF-8 is stored as feedsvc.names.store_key writes it
    db.table("files").create(
        {"source": str, "path": str, "size": int, "mtime_ns": int, "raw_hash": bytes,
         "decision": str, "entry_id": str, "message": str, "seen": str},
        pk=("source", "path"),
        not_null=["source", "path", "size", "mtime_ns", "raw_hash", "decision", "seen"],
        foreign_keys=[("entry_id", "entries", "id")], strict=True)
    db.table("files").create_index(["raw_hash"])
    db.table("runs").create(
        {"id": int, "kind": str, "started": str, "finished": str, "counts": str, "error": str},
        pk="id", not_null=["kind", "started"], strict=True)
    db.table("pages").create({"path": str, "version_id": int}, pk="path",
                       not_null=["version_id"], strict=True)


def _m2_remote_sources(db: Database) -> None:
    """Remote feeds: each source's fetch state, and what each source calls each
    of the entries it delivered (several sources may deliver one entry; the
    entry's ``origin`` is the one it came from)."""
    db.table("sources").create(
        {"name": str, "url": str, "current_url": str, "etag": str, "last_modified": str,
         "body_hash": bytes, "last_fetch": str, "last_status": int, "last_error": str,
         "errors": int, "next_due": str, "disabled": str, "interval": float, "note": str,
         "title": str, "site_link": str, "feed_id": str, "feed_updated": str},
        pk="name", not_null=["url", "errors"], defaults={"errors": 0}, strict=True)
    db.table("source_entries").create(
        {"id": int, "source": str, "key": str, "entry_seq": int, "original_id": str,
         "original_link": str, "norm_link": str, "item_hash": bytes, "published": str,
         "updated": str, "feed_updated": str, "first_seen": str, "last_seen": str},
        pk="id", not_null=["source", "key", "entry_seq", "item_hash", "feed_updated",
                           "first_seen", "last_seen"],
        foreign_keys=[("source", "sources", "name"), ("entry_seq", "entries", "seq")],
        strict=True)
    db.table("source_entries").create_index(["source", "key"], unique=True)
    db.table("source_entries").create_index(["norm_link"])
    db.table("source_entries").create_index(["entry_seq"])
    db.execute("ALTER TABLE entries ADD COLUMN origin INTEGER REFERENCES source_entries(id)")
    db.execute("ALTER TABLE versions ADD COLUMN link TEXT")
    db.execute("ALTER TABLE versions ADD COLUMN content_html TEXT")


def _m3_hidden_entries(db: Database) -> None:
    """Entries an operator took out of publishing (``entries.hidden``: when;
    NULL: published), and ``counters``: how many times that changed, and up to
    which count a publish has shown it (:meth:`Store.has_unpublished`)."""
    db.execute("ALTER TABLE entries ADD COLUMN hidden TEXT")
    db.table("counters").create({"name": str, "value": int}, pk="name", not_null=["value"],
                                strict=True)

def _m4_band_keys(db: Database) -> None:
    """The near-duplicate index in the store (:mod:`feedsvc.store.bands`):
    ``bands`` maps each LSH bucket key to the versions in it, ``settings``
    says with which banding the keys were made.  Filled on the next ingest,
    from the stored signatures."""
    db.execute("CREATE TABLE bands (bucket INTEGER NOT NULL, version_id INTEGER NOT NULL,"
               " PRIMARY KEY (bucket, version_id)) WITHOUT ROWID, STRICT")
    db.table("settings").create({"name": str, "value": str}, pk="name", not_null=["value"],
                                strict=True)


#: Tables every store has had since its first schema version.
_FIRST_TABLES = frozenset({"sections", "entries", "versions", "files", "runs", "pages"})

#: Applied in order; ``PRAGMA user_version`` counts those already applied.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (_m1_initial, _m2_remote_sources,
                                                      _m3_hidden_entries, _m4_band_keys)


class SchemaMixin(SQLiteCore):
    """Opening checks, connection settings and migrations."""

    def _prepare(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        # Random-keyed indexes (hashes, ids) need their pages cached during a big ingest.
        conn.execute("PRAGMA cache_size = -65536")
        # Each file's savepoint journals the pages it changes; in memory, not a temp file.
        conn.execute("PRAGMA temp_store = MEMORY")
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]  # reads the header
        self._refuse_foreign(version)  # before anything (WAL mode too) changes the file
        if version > len(MIGRATIONS):
            raise StoreError(f"the store has schema version {version}, newer than this "
                             f"feedsvc understands ({len(MIGRATIONS)}); upgrade feedsvc",
                             where=self.path)
        if self.readonly:
            if version < len(MIGRATIONS):
                raise StoreError(f"the store has schema version {version}; a writing command "
                                 f"must upgrade it to {len(MIGRATIONS)} first", where=self.path)
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if version < len(MIGRATIONS):
                self._migrate()
        self._load_sections()
        if () not in self._nodes and not self.readonly:
            with self._transaction():
                self._insert_section((), None, "", "")  # the root feed, minted once

    def _refuse_foreign(self, version: int) -> None:
        """A database of another application never becomes a store: a new
        store is an empty file or an empty database; one with a schema
        version holds feedsvc's first tables (some applications number their
        schemas with ``user_version`` too)."""
        names = {name for (name,) in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name NOT LIKE 'sqlite^_%' ESCAPE '^'")}
        if (names and version == 0) or (version > 0 and not names >= _FIRST_TABLES):
            tables = sorted(names - _FIRST_TABLES) or sorted(names)
            shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
            raise StoreError(f"not a feedsvc store but another application's database "
                             f"(schema version {version}; tables {shown or 'none'}); "
                             "feedsvc leaves it untouched: name a new file", where=self.path)

    def _migrate(self) -> None:
        from sqlite_utils import Database

        db = Database(self._conn)
        for number, migration in enumerate(MIGRATIONS, start=1):
            with self._transaction():
                # Read again under the write lock: another process may have migrated.
                if self._conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                    continue
                migration(db)
                self._conn.execute(f"PRAGMA user_version = {number:d}")
