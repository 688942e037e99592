"""The store's typed interface: what every caller outside :mod:`feedsvc.store`
uses, one :class:`~typing.Protocol` per concern, and :class:`Store` combining
them.  Callers annotate with these only, so a second backend (PostgreSQL
beside :class:`~feedsvc.store.sqlite.SQLiteStore`) plugs in without
touching them.

What a backend must provide, beyond the methods below:

- **Opening.**  An opener for the store's location with the ``site`` (its
  tag authority is in every id minted), the ``clock`` and ``readonly``, which
  :func:`~feedsvc.store.open_store` calls.  A writing open creates the store
  if need be and applies the missing migrations (numbered as
  :data:`~feedsvc.store.schema.MIGRATIONS`), once, even with two processes
  starting at the same time; it refuses a schema newer than it knows, and a
  database of another application, untouched.  A read-only open never
  writes: it refuses a store that is missing or not yet migrated, and sees
  a consistent snapshot while a writer works.
- **The clock.**  Every stamp the store writes (an entry's dates, a version's
  creation, when a file was seen, a run's times, a section's creation) comes
  from the ``clock`` it was opened with, in UTC; an entry's ``updated`` never
  goes backwards, even when the clock does.
- **Transactions and savepoints.**  :meth:`Transactions.batch` is one
  transaction, committed when its block ends and rolled back whole if it
  raises; batches do not nest.  :meth:`Transactions.file_savepoint` inside it
  undoes only its own block on failure.  Every write method is atomic on its
  own (never half a row), and a rollback forgets whatever was cached from
  the undone writes (section nodes, held rows).
- **Bulk insert.**  :meth:`EntryStore.bulk` is a batch with a
  :class:`BulkWriter` that plans the batch's rows in memory and writes them
  in bulk when the block ends (``executemany``, ``COPY`` …), numbering
  entries and versions as the database would.  Its lookups see the batch's
  pending rows before the stored ones.
- **The lookups dedup needs.**  ``entry_for_content_hash``,
  ``version_bodies`` and the near-duplicate index: ``ensure_bands``,
  ``add_bands`` and ``versions_sharing``, an indexed table of every
  version's LSH band keys, asked with a new text's keys only (the store as
  :class:`feedsvc.deduper.DedupStore`, the bulk writer as
  :class:`feedsvc.deduper.Lookups`), ``entry_for_raw_hash`` for a
  byte-identical file, and for remote items ``entry_for_link``,
  ``norm_links`` and ``content_hashes``.
- **Minting.**  Entry ids, page paths, section slugs and feed ids are minted
  once from the content hash, the clock's day and the site, stored, and
  never recomputed, exactly as the SQLite store does: the same input gives
  the same published bytes on every backend.
- **Errors.**  A database error is raised as
  :class:`~feedsvc.errors.StoreError` naming the store.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from ..models import Article, Entry, EntryInfo, FileOutcome, Section, SectionPath, VersionBody
from .records import (
    SEEDS,
    Encoded,
    FileState,
    KnownItem,
    SourceItem,
    SourceState,
    StoreStatus,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class Transactions(Protocol):
    """An open store: where it is, how it was opened, and its transactions."""

    @property
    def path(self) -> Path:
        """Where the store is, as errors name it."""
        ...

    @property
    def readonly(self) -> bool:
        """Opened read-only: no write method may be called."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def batch(self) -> AbstractContextManager[None]:
        """One transaction: committed when the block ends, rolled back whole
        if it raises; raises :class:`StoreError` when a batch is open already."""
        ...

    def file_savepoint(self) -> AbstractContextManager[None]:
        """Everything written in the block stays or goes together; inside a
        batch, a failure undoes only this block."""
        ...


class FileStore(Protocol):
    """What was decided for each input file of each source."""

    def file_states(self, source: str = SEEDS) -> dict[str, FileState]:
        """relpath -> what was recorded of it, for every file of ``source``."""
        ...

    def file_stats(self, source: str = SEEDS) -> dict[str, tuple[int, int]]:
        """relpath -> (size, mtime_ns) recorded, for every file of ``source``."""
        ...

    def file_stats_of(self, relpaths: Iterable[str], source: str = SEEDS
                      ) -> dict[str, tuple[int, int]]:
        """:meth:`file_stats` of the named files only (those recorded)."""
        ...

    def record_file(self, relpath: str, *, size: int, mtime_ns: int, raw_hash: bytes,
                    outcome: FileOutcome, source: str = SEEDS) -> None: ...

    def entry_for_raw_hash(self, raw_hash: bytes) -> str | None:
        """The entry of an earlier file with exactly these bytes, if any."""
        ...


class BulkWriter(Protocol):
    """The writes of one bulk batch (:meth:`EntryStore.bulk`), with lookups
    that see the batch's own pending rows first."""

    def entry_for_raw_hash(self, raw_hash: bytes) -> str | None: ...

    def entry_for_content_hash(self, h: bytes) -> str | None: ...

    def version_bodies(self, version_ids: Iterable[int]) -> list[VersionBody]: ...

    def add_bands(self, version: int, keys: list[int] | None) -> None:
        """As :meth:`EntryStore.add_bands`, for a version of this batch."""
        ...

    def add_entry(self, article: Article, *, content_hash: bytes, encoded: Encoded,
                  source: str) -> tuple[str, int]:
        """A new entry (as :meth:`EntryStore.add_entry`); its id and version number."""
        ...

    def add_revision(self, entry_id: str, article: Article, *, content_hash: bytes,
                     encoded: Encoded, source: str) -> tuple[str, int]:
        """A new current version of ``entry_id`` (as :meth:`EntryStore.add_revision`)."""
        ...

    def record_file(self, relpath: str, *, size: int, mtime_ns: int, raw_hash: bytes,
                    outcome: FileOutcome, source: str = SEEDS) -> None: ...


class EntryStore(Protocol):
    """Entries and their versions, and the lookups deduplication needs."""

    def entry_for_content_hash(self, h: bytes) -> str | None:
        """The entry that has (or had) a version with this content hash."""
        ...

    def ensure_bands(self, threshold: float) -> bool:
        """Make the stored band keys those of the banding ``threshold``
        chooses (:func:`feedsvc.lsh.bands_for`), rebuilding them from the
        stored signatures if they were made with another; whether any are
        stored.  Writes: call it inside a batch."""
        ...

    def add_bands(self, version: int, keys: list[int] | None) -> None:
        """Index a version just added by its band keys (None: nothing to index)."""
        ...

    def versions_sharing(self, keys: list[int], limit: int = 16) -> list[tuple[int, int]]:
        """(version, bands shared) of the stored versions sharing a band with
        ``keys``: most shared first, then the newest; at most ``limit``."""
        ...

    def version_body(self, version_id: int) -> VersionBody: ...

    def version_bodies(self, version_ids: Iterable[int]) -> list[VersionBody]:
        """The bodies of several versions, in the order given; ids without a
        version (from a rolled-back file) are left out."""
        ...

    def add_entry(self, article: Article, *, content_hash: bytes,
                  signature: npt.NDArray[np.uint64], source: str) -> Entry:
        """A new entry: mints its id, page and (if new) section nodes."""
        ...

    def add_revision(self, entry_id: str, article: Article, *, content_hash: bytes,
                     signature: npt.NDArray[np.uint64], source: str) -> Entry:
        """A new current version of ``entry_id``: same id and ``published``,
        ``updated`` advances (never backwards)."""
        ...

    def bulk(self) -> AbstractContextManager[BulkWriter]:
        """A batch of files written the fast way: committed when the block
        ends, rolled back whole if it raises."""
        ...


class SourceStore(Protocol):
    """Remote sources: their fetch state, what each delivered, and the
    entries remote ingest adds."""

    def source_states(self) -> dict[str, SourceState]: ...

    def source_state(self, name: str) -> SourceState | None: ...

    def save_source_state(self, state: SourceState) -> None: ...

    def enable_source(self, name: str) -> bool:
        """Fetch a disabled source again, at once; False if it is unknown or not disabled."""
        ...

    def known_items(self, source: str | None) -> dict[str, dict[str, KnownItem]]:
        """source -> key -> what the source delivered under that key before."""
        ...

    def known_hashes(self, source: str | None) -> dict[str, dict[str, bytes]]:
        """source -> key -> item hash."""
        ...

    def entry_for_link(self, norm_link: str) -> tuple[str, SectionPath, str | None] | None:
        """(entry id, section, origin source) of an entry some source
        delivered under this normalised link."""
        ...

    def norm_links(self) -> set[str]: ...

    def content_hashes(self) -> set[bytes]: ...

    def entry_origin(self, entry_id: str) -> tuple[SectionPath, str | None] | None: ...

    def record_item(self, item: SourceItem, entry_id: str) -> None:
        """Remember that ``item.source`` delivers ``entry_id`` under ``item.key``."""
        ...

    def add_remote_entry(self, article: Article, item: SourceItem, *, link: str | None,
                         content_html: str, content_hash: bytes,
                         signature: npt.NDArray[np.uint64],
                         encoded: Encoded | None = None) -> Entry:
        """A new entry from a remote source, dated as the source dates it;
        the item becomes its origin."""
        ...

    def add_remote_revision(self, entry_id: str, article: Article, item: SourceItem, *,
                            link: str | None, content_html: str, updated: datetime,
                            content_hash: bytes, signature: npt.NDArray[np.uint64]) -> Entry:
        """A new current version of a remote entry from its own source."""
        ...


class RunStore(Protocol):
    """Runs, and the state of the store as ``feedsvc status`` shows it."""

    def start_run(self, kind: str) -> int: ...

    def finish_run(self, run_id: int, counts: Mapping[str, int], error: str | None) -> None: ...

    def run(self, kind: str, counts: Callable[[], Mapping[str, int]]
            ) -> AbstractContextManager[None]:
        """Record the block as a run of ``kind``: its counts (read when it
        ends) and the error that ended it, if any."""
        ...

    def status(self) -> StoreStatus: ...

    def integrity_check(self) -> list[str]:
        """Problems found by the database's own checks and the store's
        invariants; [] when sound."""
        ...


class PublishingStore(Protocol):
    """What publishing reads and records, and which entries are hidden."""

    def sections(self) -> list[Section]:
        """The root first, then every section node, parents before children."""
        ...

    def created(self) -> datetime:
        """When the store was made: the date of a feed without entries."""
        ...

    def feed_entries(self, section: SectionPath, limit: int) -> list[Entry]:
        """The newest ``limit`` entries of ``section`` and its descendants
        (``updated`` descending, then ``seq`` descending); hidden ones left out."""
        ...

    def iter_entries(self, seqs: Collection[int] | None = None) -> Iterator[Entry]:
        """All entries (or those with the given ``seq``), in ``seq`` order, streamed."""
        ...

    def has_unpublished(self) -> bool:
        """True when another process changed what a publish shows since the last one."""
        ...

    def page_versions(self) -> list[tuple[int, str, int]]:
        """(seq, page, current version id) of every entry not hidden."""
        ...

    def page_states(self) -> dict[str, int]:
        """Page path -> the version id it was last written from."""
        ...

    def mark_pages_published(self, pages: Iterable[tuple[str, int]]) -> None: ...

    def visibility_changes(self) -> int:
        """How many times an entry was hidden or shown again, ever."""
        ...

    def mark_visibility_published(self, changes: int) -> None: ...

    def set_hidden(self, ref: str, hidden: bool) -> tuple[str, bool] | None:
        """Hide (or show again) the entry whose id or page path is ``ref``:
        (its id, whether that changed anything); None if there is no such entry."""
        ...

    def hidden_pages(self) -> list[str]: ...

    def entry_infos(self, *, sections: Collection[SectionPath] | None = None,
                    source: str | None = None, hidden: bool | None = None
                    ) -> Iterator[EntryInfo]:
        """Entries newest first (``updated``, then ``seq``), streamed, as asked."""
        ...


class Store(Transactions, FileStore, EntryStore, SourceStore, RunStore, PublishingStore,
            Protocol):
    """An open store, whatever its backend: every method the rest of feedsvc
    calls.  A backend implements all of it, with the opening, clock,
    transactions, bulk path, dedup lookups and minting the module
    documentation describes; :func:`~feedsvc.store.open_store` opens one."""
