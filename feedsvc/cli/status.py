"""What ``feedsvc status`` shows, as text or ``--json``.

The store's counts, last run, rejected files and hidden entries
(:class:`~feedsvc.store.StoreStatus`), the remote sources that are failing,
and the daemon's heartbeat
(:mod:`feedsvc.daemon.heartbeat`, read as it is and judged by
:func:`~feedsvc.daemon.heartbeat.liveness`).

The heartbeat keeps only each job's last summary, which the next run
replaces; the store keeps each source's last error until a fetch of it
succeeds (a success, a ``304`` included, clears it), so that is what status
shows.  While a source is failing, its last fetch was the last failure: that
is its time.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..daemon.heartbeat import Heartbeat, liveness, to_json
from ..store import SourceState, StoreStatus

#: Characters that could end a line or drive a terminal (C0, DEL, C1, the
#: Unicode line and paragraph separators): an error text quotes servers.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class SourceFailure:
    name: str
    error: str  # as recorded
    failed_at: datetime | None  # the last failed fetch
    in_a_row: int  # consecutive failed fetches
    disabled: str | None  # why it is no longer fetched (410 Gone)


def render_store_status(status: StoreStatus) -> str:
    """The status as a few lines of plain text."""
    lines = [f"entries: {status.entries} ({status.versions} versions)"]
    width = max(map(len, status.entries_by_section), default=0)
    lines += [f"  {label or '(root)':<{width}}  {count}"
              for label, count in status.entries_by_section.items()]
    run = status.last_run
    if run is None:
        lines.append("last run: none")
    else:
        end = f"finished {run.finished:%Y-%m-%d %H:%M:%S}" if run.finished else "unfinished"
        counts = ", ".join(f"{k} {v}" for k, v in run.counts.items()) or "nothing done"
        lines.append(f"last run: {run.kind}, started {run.started:%Y-%m-%d %H:%M:%S} UTC,"
                     f" {end}: {counts}")
        if run.error:
            lines.append(f"  error: {run.error}")
    lines.append(f"rejected files: {len(status.rejected)}")
    lines += [f"  {path}: {message}" for path, message in status.rejected]
    lines.append(f"hidden entries: {len(status.hidden)}")
    lines += [f"  {entry_id}" for entry_id in status.hidden]
    return "\n".join(lines)


def source_failures(states: Mapping[str, SourceState],
                    configured: Collection[str]) -> list[SourceFailure]:
    """The configured sources whose last fetch failed, by name."""
    return [SourceFailure(name, st.last_error, st.last_fetch, st.errors, st.disabled)
            for name, st in sorted(states.items())
            if name in configured and st.last_error is not None]


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], text)


def render_failures(failures: list[SourceFailure]) -> str:
    """Lines for ``feedsvc status``."""
    lines = [f"failing sources: {len(failures) or 'none'}"]
    for f in failures:
        when = f" at {f.failed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if f.failed_at else ""
        times = f"failed {f.in_a_row} time{'s' if f.in_a_row != 1 else ''} in a row" \
            if f.in_a_row else "failed"
        lines.append(f"  {_printable(f.name)}: {times}, last{when}: {_printable(f.error)}")
        if f.disabled:
            lines.append(f"    disabled: {_printable(f.disabled)}")
    return "\n".join(lines)


def failures_json(failures: list[SourceFailure]) -> list[dict[str, object]]:
    return [{"name": f.name, "error": f.error,
             "failed_at": f.failed_at.isoformat() if f.failed_at else None,
             "errors_in_a_row": f.in_a_row, "disabled": f.disabled} for f in failures]


# ----------------------------------------------------------------------------- the daemon


def _ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render_heartbeat(hb: Heartbeat | None, now: datetime, alive: bool) -> str:
    """The heartbeat as lines for ``feedsvc status``."""
    if hb is None:
        return "daemon: no heartbeat (feedsvc run has not run with this data folder)"
    live = liveness(hb, now, alive)
    lines = [f"daemon: {live.state} ({live.detail}), heartbeat {_ago(hb.updated, now)}"]
    if hb.reload_error:
        lines.append(f"  reload refused: {hb.reload_error}")
    if hb.publish_pending:
        lines.append("  publish pending: the store has changes not yet published")
    width = max((len(j.name) for j in hb.jobs), default=0)
    for j in hb.jobs:
        if j.running and j.last_start is not None:
            last = f"running since {_ago(j.last_start, now)}"
        elif j.last_end is not None:
            last = f"last {_ago(j.last_end, now)}: {j.last_summary or 'done'}"
        else:
            last = "not run yet"
        due = f"; next due {_ago(j.next_due, now)}" if j.next_due is not None else ""
        lines.append(f"  {j.name:<{width}}  {last}{due}")
        if j.last_error and j.last_error_at is not None:
            lines.append(f"  {'':<{width}}  last error {_ago(j.last_error_at, now)}: "
                         f"{j.last_error}")
    return "\n".join(lines)


def heartbeat_json(hb: Heartbeat | None, now: datetime, alive: bool) -> dict[str, Any] | None:
    """The heartbeat for ``feedsvc status --json`` (None: no daemon has run)."""
    if hb is None:
        return None
    live = liveness(hb, now, alive)
    return {"liveness": live.state, "detail": live.detail, **to_json(hb)}


__all__ = [
    "SourceFailure",
    "failures_json",
    "heartbeat_json",
    "render_failures",
    "render_heartbeat",
    "source_failures",
]
