"""When the daemon runs what: small pure functions of their inputs and an explicit ``now``.

Which sources ``run --once`` runs (:func:`due_once`), when a source runs
next (:func:`next_run`, :func:`jitter_for`), and the coalescing of publishes
(:class:`PublishGate` and the ``gate_*`` transitions: at most one publish
pending and one running, so a burst of changes gives one or two publishes).
Nothing here reads a clock, takes a lock or touches the scheduler; the
daemon (:mod:`feedsvc.daemon.scheduler`) applies what they decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .heartbeat import Heartbeat
    from .jobs import SourceJob


def jitter_for(interval: float) -> float:
    """Seconds of random delay added to each run: a tenth of the interval, at most 30 s."""
    return min(interval / 10, 30.0)


def next_run(trigger_next: datetime | None, hint: datetime | None) -> datetime | None:
    """When a source runs next: at its interval, or later if it asked to."""
    if hint is None or trigger_next is None:
        return trigger_next or hint
    return max(trigger_next, hint)


def due_once(sources: Sequence[SourceJob], previous: Heartbeat | None,
             now: datetime) -> list[str]:
    """The sources ``run --once`` runs now: local ones always, others when due."""
    due = []
    for source in sources:
        beat = previous.job(source.id) if previous is not None else None
        if source.local or beat is None or beat.next_due is None or beat.next_due <= now:
            due.append(source.id)
    return due


@dataclass(frozen=True, slots=True)
class PublishGate:
    """Coalescing of publishes: at most one pending and one running."""

    due: datetime | None = None  # a publish is scheduled for this time
    running: bool = False
    dirty: bool = False  # the store changed after the running publish began

    @property
    def pending(self) -> bool:
        """Changes are not yet all on disk.  True while a publish runs, so a
        heartbeat left by a kill in mid-publish makes ``run --once`` finish it."""
        return self.due is not None or self.dirty or self.running


def gate_changed(gate: PublishGate, now: datetime,
                 delay: float) -> tuple[PublishGate, datetime | None]:
    """The store changed.  Returns the new gate and, if a publish must be
    scheduled, its time (None: a pending or running publish covers it)."""
    if gate.running:
        return replace(gate, dirty=True), None
    if gate.due is not None:
        return gate, None
    due = now + timedelta(seconds=delay)
    return replace(gate, due=due), due


def gate_started(gate: PublishGate) -> PublishGate:
    # Everything changed so far is about to be published.
    return PublishGate(due=None, running=True, dirty=False)


def gate_finished(gate: PublishGate, now: datetime, delay: float, *, ok: bool,
                  retry: float) -> tuple[PublishGate, datetime | None]:
    """A publish ended.  Changes that arrived meanwhile get one more publish
    after ``delay``; a failed publish is tried again after ``retry`` seconds."""
    if not ok:
        due = now + timedelta(seconds=max(delay, retry))
        return PublishGate(due=due), due
    if gate.dirty:
        due = now + timedelta(seconds=delay)
        return PublishGate(due=due), due
    return PublishGate(), None


def gate_skipped(gate: PublishGate, now: datetime,
                 delay: float) -> tuple[PublishGate, datetime | None]:
    """The scheduler refused to start a due publish (one was still winding
    down): schedule it again rather than lose it."""
    return gate_changed(replace(gate, due=None), now, delay)


__all__ = [
    "PublishGate",
    "due_once",
    "gate_changed",
    "gate_finished",
    "gate_skipped",
    "gate_started",
    "jitter_for",
    "next_run",
]
