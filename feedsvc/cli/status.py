"""The remote sources that are failing, for ``feedsvc status``.

The daemon's heartbeat keeps only each job's last summary, which the next run
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

from ..store import SourceState

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
