"""The SQLite store: :class:`SQLiteStore`, the embedded backend of
:class:`~feedsvc.store.base.Store`, made of one mixin per concern, each with
its own SQL: the schema (:mod:`~feedsvc.store.schema`), file states
(:mod:`~feedsvc.store.files`), entries and versions
(:mod:`~feedsvc.store.entries`), the near-duplicate index
(:mod:`~feedsvc.store.bands`), the bulk path (:mod:`~feedsvc.store.bulk`),
remote sources (:mod:`~feedsvc.store.sources`), runs and status
(:mod:`~feedsvc.store.runs`) and publishing (:mod:`~feedsvc.store.publishing`),
over the connection, transactions and section tree they share
(:mod:`~feedsvc.store.core`).  This module opens and closes it.

Entries keep every distinct version of their text (``versions``), so nothing
is lost; the current version is the newest one, so a wrong merge is undone by
moving its version to an entry of its own.  Ids, page paths, section slugs
and feed ids are minted once, stored, and never recomputed.  Every file's
decision is kept in ``files``.

Transactions: the caller wraps a batch of files in :meth:`Store.batch` (one
transaction) and each file in :meth:`Store.file_savepoint`, so a failing file
rolls back alone and a killed process loses at most the open batch.  Each
write method also runs in its own savepoint, so it never leaves half a row.

Rows never leave the store: they become the frozen types of
:mod:`feedsvc.models` (or those of :mod:`feedsvc.store.records`) first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Self

from ..clock import Clock, system_clock
from ..config import Config, SiteConfig
from ..errors import DataFolderError, StoreError
from .base import Store
from .bulk import BulkMixin
from .entries import EntriesMixin
from .files import FilesMixin
from .publishing import PublishingMixin
from .runs import RunsMixin
from .schema import SchemaMixin
from .sources import SourcesMixin


class SQLiteStore(SchemaMixin, BulkMixin, FilesMixin, SourcesMixin, EntriesMixin, RunsMixin,
                  PublishingMixin):
    """An open store; use :meth:`open`."""

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, clock: Clock = system_clock, site: SiteConfig,
             readonly: bool = False) -> SQLiteStore:
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


def _make_folder(folder: Path) -> None:
    """The store's folder, created if need be; failing that is an I/O problem
    of the folder (exit 3), not an unusable store."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFolderError(f"cannot create the store's folder: {exc.strerror}",
                              where=folder) from None


def open_store(config: Config, *, readonly: bool = False) -> Store:
    """The store a configuration names (see :meth:`SQLiteStore.open`)."""
    return SQLiteStore.open(config.store.path, site=config.site, readonly=readonly)
