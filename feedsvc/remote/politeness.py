"""How often to ask a server, and when to ask again: the fetch policy (pure).

A source's interval is raised, never shortened, by what the answer says
about its freshness (``Cache-Control: max-age``, ``Expires``, an RSS
``ttl``), within the configured bounds; after failures the wait doubles,
with jitter so that sources failing together do not retry together, and a
``Retry-After`` from a 429 or 503 is read in either of its forms.  Fetches
are started round-robin over hosts so that one busy host does not hold up
the others.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from ..config import FetchConfig


def interleave_hosts(urls: Sequence[str]) -> list[int]:
    """Indexes of ``urls`` ordered round-robin over their hosts."""
    queues: dict[str, deque[int]] = defaultdict(deque)
    for i, url in enumerate(urls):
        queues[(urlsplit(url).hostname or "").lower()].append(i)
    order: list[int] = []
    while queues:
        for host in list(queues):
            order.append(queues[host].popleft())
            if not queues[host]:
                del queues[host]
    return order


def http_date(value: str) -> datetime | None:
    """An HTTP-date as an aware moment (a date without a zone is UTC); None if unreadable."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    moment = http_date(value)
    return max(0.0, (moment - now).total_seconds()) if moment else None


def cache_lifetime(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the answer stays fresh: ``Cache-Control: max-age`` (``s-maxage``
    is for shared caches), else ``Expires`` minus ``Date`` (or now)."""
    control = headers.get("cache-control", "")
    for directive in control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().strip('"').isdigit():
            return float(value.strip().strip('"'))
    expires = headers.get("expires")
    if expires:
        moment = http_date(expires)
        if moment is None:
            return 0.0  # an invalid Expires means "already expired"
        date = http_date(headers.get("date", "")) or now
        return max(0.0, (moment - date).total_seconds())
    return None


def effective_interval(configured: float, hints: Sequence[float | None], config: FetchConfig
                       ) -> float:
    """The source's interval raised by cache hints (max-age, Expires, RSS ttl),
    within ``[min_interval, max_interval]``.  A hint never shortens it."""
    wanted = max([configured, *(h for h in hints if h is not None)])
    return float(max(config.min_interval, min(config.max_interval, wanted)))


def backoff(errors: int, interval: float, config: FetchConfig, rng: random.Random) -> float:
    """Seconds before the next try after ``errors`` consecutive failures:
    the interval doubled per failure after the first, with ±20 % jitter so
    that sources failing together do not retry together, up to the cap."""
    doubled = interval * 2.0 ** min(max(errors - 1, 0), 32)
    return min(float(config.backoff_cap), doubled * rng.uniform(0.8, 1.2))


__all__ = [
    "backoff",
    "cache_lifetime",
    "effective_interval",
    "http_date",
    "interleave_hosts",
    "retry_after",
]
