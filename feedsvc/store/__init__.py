"""The store: all SQL and the schema, behind one facade.

Nothing outside this package writes SQL.  :class:`Store` is the typed
interface every caller annotates with (:mod:`feedsvc.store.base` says what a
backend must provide); :class:`SQLiteStore` is the SQLite backend, and
:func:`open_store` opens the store a configuration names.
"""

from __future__ import annotations

from .base import BulkWriter, Store
from .bulk import SQLiteBulkWriter
from .records import (
    SEEDS,
    Encoded,
    FileState,
    KnownItem,
    RunInfo,
    SourceItem,
    SourceState,
    StoreStatus,
    decode_strings,
    encode_strings,
)
from .schema import MIGRATIONS
from .sqlite import SQLiteStore, open_store

__all__ = [
    "MIGRATIONS",
    "SEEDS",
    "BulkWriter",
    "Encoded",
    "FileState",
    "KnownItem",
    "RunInfo",
    "SQLiteBulkWriter",
    "SQLiteStore",
    "SourceItem",
    "SourceState",
    "Store",
    "StoreStatus",
    "decode_strings",
    "encode_strings",
    "open_store",
]
