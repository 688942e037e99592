"""The store: all SQL and the schema, behind one facade.

Nothing outside this package writes SQL.  :class:`Store` is the SQLite
implementation; :func:`open_store` opens the one a configuration names.
"""

from __future__ import annotations

from .bulk import BulkWriter
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
from .sqlite import Store, open_store

__all__ = [
    "MIGRATIONS",
    "SEEDS",
    "BulkWriter",
    "Encoded",
    "FileState",
    "KnownItem",
    "RunInfo",
    "SourceItem",
    "SourceState",
    "Store",
    "StoreStatus",
    "decode_strings",
    "encode_strings",
    "open_store",
]
