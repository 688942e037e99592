"""Runs and status in the SQLite store: each ingest, fetch or publish is
recorded as a run (``runs``: its kind, times, counts and the error that
ended it), and :meth:`RunsMixin.status` sums up the store for ``feedsvc
status``, with the store's own soundness checks beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from ..models import Decision, section_label
from ..names import from_store_key, printable
from .core import SQLiteCore, _translated
from .records import RunInfo, StoreStatus, _dt, _ts


class RunsMixin(SQLiteCore):
    """Runs, the status summary and the integrity checks."""

    @_translated
    def start_run(self, kind: str) -> int:
        cur = self._conn.execute("INSERT INTO runs (kind, started) VALUES (?, ?)",
                                 (kind, _ts(self._now())))
        assert cur.lastrowid is not None
        return cur.lastrowid

    @_translated
    def finish_run(self, run_id: int, counts: Mapping[str, int], error: str | None) -> None:
        self._conn.execute("UPDATE runs SET finished = ?, counts = ?, error = ? WHERE id = ?",
                           (_ts(self._now()), json.dumps(dict(counts), sort_keys=True), error,
                            run_id))

    @contextmanager
    def run(self, kind: str, counts: Callable[[], Mapping[str, int]]) -> Iterator[None]:
        """Record the block as a run of ``kind``: its counts (read when it ends)
        and the error that ended it, if any, for ``feedsvc status``."""
        run_id = self.start_run(kind)
        error: str | None = None
        try:
            yield
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.finish_run(run_id, counts(), error)

    # -- status and checks ---------------------------------------------------

    @_translated
    def status(self) -> StoreStatus:
        conn = self._conn
        per_section = conn.execute(
            "SELECT section_id, count(*) FROM entries GROUP BY section_id").fetchall()
        by_label = dict(sorted((section_label(self._path_of(sid)), n) for sid, n in per_section))
        entries = sum(by_label.values())
        versions: int = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        run = conn.execute("SELECT kind, started, finished, counts, error FROM runs"
                           " ORDER BY id DESC LIMIT 1").fetchone()
        last_run = None
        if run is not None:
            kind, started, finished, counts, error = run
            last_run = RunInfo(kind, _dt(started), _dt(finished) if finished else None,
                               json.loads(counts) if counts else {}, error)
        rejected = conn.execute(
            "SELECT path, coalesce(message, '') FROM files WHERE decision = ?"
            " ORDER BY source, path", (Decision.REJECTED.value,)).fetchall()
        hidden = conn.execute("SELECT id FROM entries WHERE hidden IS NOT NULL"
                              " ORDER BY hidden, seq").fetchall()
        return StoreStatus(by_label, entries, versions, last_run,
                           tuple((printable(from_store_key(r)), m) for r, m in rejected),
                           tuple(r[0] for r in hidden))

    @_translated
    def integrity_check(self) -> list[str]:
        """Problems found by SQLite's own checks and the store's invariants; [] when sound."""
        problems = [row[0] for row in self._conn.execute("PRAGMA integrity_check")
                    if row[0] != "ok"]
        for table, rowid, parent, _ in self._conn.execute("PRAGMA foreign_key_check"):
            problems.append(f"{table} row {rowid}: missing {parent} row")
        for (entry_id,) in self._conn.execute(
                "SELECT e.id FROM entries e"
                " WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.entry_seq = e.seq)"):
            problems.append(f"entry {entry_id}: has no version")
        return problems
