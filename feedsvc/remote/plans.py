"""The values the steps of remote ingest hand on, from a due source to its report.

Step 1 (:func:`.ingest.read_plans`) gives a :class:`Plan` for each source
that is due, with the validators and entry keys the store holds for it;
step 2 turns each plan into a :class:`Fetched` (the response and, for a new
body, the prepared entries); step 3 stores it and says what happened in a
:class:`SourceReport`, and a run's reports make a :class:`SourcesReport`.
A source's state is stored under its URL without credentials
(:func:`stored_url`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..config import SourceConfig
from ..models import Decision
from ..store import SourceState
from ..urls import without_credentials
from .fetch import Credentials, Request, Response
from .items import FeedMeta
from .prepare import Prepared


@dataclass(frozen=True, slots=True)
class Plan:
    """A source that is due, with what the store knows of it."""

    source: SourceConfig
    state: SourceState
    known: Mapping[str, bytes]  # key -> item hash, of what the source delivered before
    started: datetime  # when the plan was read: a fetch by another process after it wins

    @property
    def request(self) -> Request:
        s = self.state
        # The credentials of the configured URL go to its origin only, also
        # after a permanent move (a move to another host does not get them).
        return Request(without_credentials(s.fetch_url), s.etag, s.last_modified,
                       Credentials.of(self.source.url))


@dataclass(frozen=True, slots=True)
class Fetched:
    """A plan after its fetch: the response and, for a new body, the feed."""

    plan: Plan
    response: Response
    fetched_at: datetime
    body_hash: bytes | None = None
    meta: FeedMeta | None = None
    items: tuple[Prepared, ...] = ()
    filtered: int = 0
    notes: tuple[str, ...] = ()
    error: str | None = None  # the body could not be used (invalid XML, refused …)

    @property
    def unchanged_body(self) -> bool:
        return self.body_hash is not None and self.body_hash == self.plan.state.body_hash


@dataclass(frozen=True, slots=True)
class SourceReport:
    name: str
    outcome: str  # fetched, not-modified, same-body, failed, gone, disabled, not-due, raced
    status: int | None
    counts: Mapping[str, int]
    message: str | None
    next_due: datetime | None

    @property
    def changed(self) -> bool:
        return bool(self.counts.get(Decision.NEW, 0) or self.counts.get(Decision.REVISED, 0))


@dataclass(frozen=True, slots=True)
class SourcesReport:
    sources: tuple[SourceReport, ...]
    duration: float
    outcomes: Mapping[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.sources)

    @property
    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for s in self.sources:
            total.update(s.counts)
        return dict(total)

    @property
    def failed(self) -> tuple[SourceReport, ...]:
        return tuple(s for s in self.sources if s.outcome in ("failed", "gone"))


def stored_url(source: SourceConfig) -> str:
    """The source's URL as the store keeps it: without credentials, which
    are read from the configuration for each fetch and written nowhere."""
    return without_credentials(source.url)


__all__ = ["Fetched", "Plan", "SourceReport", "SourcesReport", "stored_url"]
