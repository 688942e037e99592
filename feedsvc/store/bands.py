"""The near-duplicate index of the SQLite store: every version's LSH band
keys (:mod:`feedsvc.lsh`) in the indexed ``bands`` table, written with the
version, and the lookup of the versions that share bands with a new text.

A run asks only with the new texts' keys, so no run loads every stored
signature and nothing in memory grows with the archive.  The keys depend on
the banding the similarity threshold chooses: the banding they were written
with is kept in ``settings``, and a store whose banding differs from the
configured one (a changed threshold, a store from before the table) has its
keys rebuilt from the stored signatures, once, by :meth:`BandsMixin.ensure_bands`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import StoreError
from .core import _INSERT_BANDS, SQLiteCore, _translated, _translated_holding

#: Bucket keys are 64-bit hashes; SQLite's integers are signed, so the
#: lowest bit is dropped (a collision only adds a candidate that the exact
#: comparison then rejects).
_SHIFT = 1


def band_rows(version: int, keys: Iterable[int]) -> list[tuple[int, int]]:
    """The ``bands`` rows of one version."""
    return [(k >> _SHIFT, version) for k in keys]


def _layout_text(threshold: float) -> str:
    from ..lsh import bands_for

    bands, rows = bands_for(threshold)
    return f"{bands}x{rows}"


class BandsMixin(SQLiteCore):
    """Band keys: written with each version, queried with a new text's keys."""

    @_translated
    def ensure_bands(self, threshold: float) -> bool:
        """Make the stored keys those of ``threshold``'s banding, rebuilding
        them from the signatures if they are not; whether any are stored."""
        layout = _layout_text(threshold)
        row = self._conn.execute("SELECT value FROM settings WHERE name = 'bands'").fetchone()
        if row is None or row[0] != layout:
            with self._savepoint():
                self._rebuild_bands(threshold)
                self._conn.execute("INSERT INTO settings (name, value) VALUES ('bands', ?)"
                                   " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                                   (layout,))
        return self._conn.execute("SELECT 1 FROM bands LIMIT 1").fetchone() is not None

    def _rebuild_bands(self, threshold: float) -> None:
        """Every stored version's keys, from its signature, in slices."""
        from ..dedup import K, signatures_from_bytes
        from ..lsh import band_keys

        conn = self._conn
        conn.execute("DELETE FROM bands")
        cur = conn.execute("SELECT id, signature FROM versions ORDER BY id")
        while rows := cur.fetchmany(8192):
            blob = b"".join(r[1] for r in rows)
            if len(blob) != len(rows) * K * 8:
                raise StoreError("a stored signature has the wrong size", where=self.path)
            found = band_keys(signatures_from_bytes(blob, len(rows)), threshold)
            out: list[tuple[int, int]] = []
            for (version, _), keys in zip(rows, found, strict=True):
                if keys is not None:
                    out += band_rows(version, keys)
            out.sort()
            conn.executemany(_INSERT_BANDS, out)

    @_translated_holding
    def add_bands(self, version: int, keys: list[int] | None) -> None:
        """Index a version (just added) by its band keys (None: an empty body,
        indexed by nothing).  Held with the version's rows when they are held."""
        if keys is None:
            return
        rows = band_rows(version, keys)
        if self._held is not None:
            self._held.bands += rows
        else:
            self._conn.executemany(_INSERT_BANDS, rows)

    @_translated
    def versions_sharing(self, keys: list[int], limit: int = 16) -> list[tuple[int, int]]:
        """(version, bands shared) of the stored versions that share a band
        with ``keys``: most shared first, then the newest; at most ``limit``."""
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        query: Any = self._conn.execute(
            f"SELECT version_id, count(*) AS n FROM bands WHERE bucket IN ({marks})"  # noqa: S608
            " GROUP BY version_id ORDER BY n DESC, version_id DESC LIMIT ?",
            [k >> _SHIFT for k in keys] + [limit])
        return [(int(v), int(n)) for v, n in query]
