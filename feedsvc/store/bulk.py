"""The bulk path of the SQLite store: a batch of seed files planned in
memory and written with one ``executemany`` per table when it ends.

:meth:`BulkMixin.bulk` opens the batch (one transaction, holding the write
lock) and hands out a :class:`SQLiteBulkWriter`, whose lookups see the batch's own
pending rows before the store's, as the dedup decision needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from ..models import Article, FileOutcome, SectionPath, VersionBody, section_label
from ..names import store_key
from .bands import BandsMixin, band_rows
from .core import _INSERT_BANDS, _INSERT_ENTRY, _INSERT_VERSION, _version_row
from .entries import EntriesMixin
from .files import _RECORD_FILE, FilesMixin
from .records import SEEDS, Encoded, _dt, _ts, decode_strings


@dataclass(slots=True)
class _Planned:
    """An entry row as a bulk batch knows it: stored before, or new in the batch."""

    seq: int
    section_id: int
    published: str
    updated: str
    page: str
    new: bool  # inserted by this batch (else: updated by it, if revised)


class SQLiteBulkWriter:
    """The writes of one batch of files, kept in memory and written with one
    ``executemany`` per table when the batch ends (:meth:`BulkMixin.bulk`).

    A bulk ingest spends most of its time in per-statement overhead; this
    makes the work per file a few dictionary operations.  The batch holds the
    write lock (``BEGIN IMMEDIATE``) from the start, so entry and version
    numbers are handed out here exactly as SQLite would, and the lookups see
    the batch's own pending rows as if they were written already.  Atomicity
    is the batch's: a crash or an error loses the open batch, never part of a file.
    """

    def __init__(self, store: BulkMixin) -> None:
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
        self._bands: list[tuple[int, int]] = []

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

    def add_bands(self, version: int, keys: list[int] | None) -> None:
        """As :meth:`Store.add_bands`, for a version of this batch."""
        if keys is not None:
            self._bands += band_rows(version, keys)

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
        # In key order: the index's pages are then each touched once per batch.
        self._bands.sort()
        conn.executemany(_INSERT_BANDS, self._bands)
        self._bands.clear()
        self._entries.clear()
        self._versions.clear()
        self._files.clear()


class BulkMixin(FilesMixin, EntriesMixin, BandsMixin):
    """Batches of files written the fast way."""

    @contextmanager
    def bulk(self) -> Iterator[SQLiteBulkWriter]:
        """A batch of files written the fast way: see :class:`SQLiteBulkWriter`.
        Committed when the block ends, rolled back whole if it raises."""
        with self.batch():  # which also turns sqlite3 errors into StoreError
            writer = SQLiteBulkWriter(self)
            yield writer
            writer.flush()
