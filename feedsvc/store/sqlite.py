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

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from ..clock import Clock, system_clock
from ..config import Config, SiteConfig
from ..errors import DataFolderError, StoreError
from ..models import (
    Article,
    FileOutcome,
    SectionPath,
    VersionBody,
    section_label,
)
from ..names import store_key
from .core import (
    _INSERT_ENTRY,
    _INSERT_VERSION,
    _version_row,
)
from .entries import EntriesMixin
from .files import _RECORD_FILE, FilesMixin
from .publishing import PublishingMixin
from .records import (
    SEEDS,
    Encoded,
    _dt,
    _ts,
    decode_strings,
)
from .runs import RunsMixin
from .schema import SchemaMixin
from .sources import SourcesMixin

if TYPE_CHECKING:
    pass

# numpy (through feedsvc.dedup) is imported by the methods that handle
# signatures: a run that only refreshes sources or reads the store (a 304
# pass, ``feedsvc status``) does not pay its import, a tenth of a second.

class Store(SchemaMixin, FilesMixin, SourcesMixin, EntriesMixin, RunsMixin, PublishingMixin):
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
