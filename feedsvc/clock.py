"""The clock sits at the edge: the core never calls ``datetime.now`` itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: A clock returns the current time as a timezone-aware UTC datetime.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    """A clock stuck at ``at`` (tests, reproducible runs)."""
    if at.tzinfo is None:
        raise ValueError("fixed_clock needs a timezone-aware datetime")
    at = at.astimezone(UTC)
    return lambda: at
