"""Input files in the SQLite store: what was decided for each file of each
source (``files``), so an unchanged file is skipped and a byte-identical one
is known for a duplicate.

A path is relative to its source's folder (seeds) or a URL (remote
sources); a name that is not UTF-8 is kept as
:func:`feedsvc.names.store_key` writes it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..models import Decision, FileOutcome
from ..names import from_store_key, store_key
from .core import SQLiteCore, _translated
from .records import SEEDS, FileState, _ts

_RECORD_FILE = """INSERT INTO files (source, path, size, mtime_ns, raw_hash, decision,
    entry_id, message, seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (source, path) DO UPDATE SET size = excluded.size,
    mtime_ns = excluded.mtime_ns, raw_hash = excluded.raw_hash,
    decision = excluded.decision, entry_id = excluded.entry_id,
    message = excluded.message, seen = excluded.seen"""


class FilesMixin(SQLiteCore):
    """File states, and the lookup of a file's exact bytes."""

    @_translated
    def file_states(self, source: str = SEEDS) -> dict[str, FileState]:
        """relpath -> what was recorded of it, for every file of ``source``."""
        rows = self._conn.execute(
            "SELECT path, size, mtime_ns, raw_hash, decision, entry_id, message"
            " FROM files WHERE source = ?", (source,))
        return {from_store_key(key): FileState(size, mtime, raw, Decision(dec), entry, msg)
                for key, size, mtime, raw, dec, entry, msg in rows}

    @_translated
    def file_stats(self, source: str = SEEDS) -> dict[str, tuple[int, int]]:
        """relpath -> (size, mtime_ns) recorded, for every file of ``source``:
        what a scan compares, without building a :class:`FileState` per file."""
        rows = self._conn.execute("SELECT path, size, mtime_ns FROM files WHERE source = ?",
                                  (source,))
        return {(from_store_key(key) if key[:1] == "/" else key): (size, mtime)
                for key, size, mtime in rows}

    @_translated
    def file_stats_of(self, relpaths: Iterable[str], source: str = SEEDS
                      ) -> dict[str, tuple[int, int]]:
        """:meth:`file_stats` of the named files only (those recorded)."""
        found: dict[str, tuple[int, int]] = {}
        keys = [store_key(r) for r in relpaths]
        for at in range(0, len(keys), 500):  # within SQLite's limit on parameters
            part = keys[at:at + 500]
            marks = ", ".join("?" * len(part))
            rows = self._conn.execute(
                f"SELECT path, size, mtime_ns FROM files WHERE source = ?"  # noqa: S608
                f" AND path IN ({marks})", [source, *part])
            found.update((from_store_key(key), (size, mtime)) for key, size, mtime in rows)
        return found

    @_translated
    def record_file(self, relpath: str, *, size: int, mtime_ns: int, raw_hash: bytes,
                    outcome: FileOutcome, source: str = SEEDS) -> None:
        self._conn.execute(
            _RECORD_FILE,
            (source, store_key(relpath), size, mtime_ns, raw_hash, outcome.decision.value,
             outcome.entry_id, outcome.message, _ts(self._now())))

    @_translated
    def entry_for_raw_hash(self, raw_hash: bytes) -> str | None:
        """The entry of an earlier file with exactly these bytes, if any."""
        row = self._conn.execute(
            "SELECT entry_id FROM files WHERE raw_hash = ? AND entry_id IS NOT NULL LIMIT 1",
            (raw_hash,)).fetchone()
        return None if row is None else str(row[0])
