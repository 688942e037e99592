"""The daemon's heartbeat: ``<data folder>/feedsvc-daemon.json``.

``feedsvc run`` rewrites this small JSON file whenever a job starts or ends:
when each job last ran, what it did, its last error, when it is next due.
``feedsvc status`` reads it without the writer lock: the file is replaced
atomically (:mod:`feedsvc.atomic`), so a reader sees the old or the new
document, never a part.  Losing it costs nothing but the display: the daemon
keeps its real state in memory and the store.

Everything here apart from :func:`write_heartbeat`, :func:`read_heartbeat`
and :func:`pid_alive` is pure: times are passed in, never read from a clock.
How ``feedsvc status`` shows it is :mod:`feedsvc.cli.status`'s business.
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..atomic import TEMP_NAME, write_if_changed
from ..errors import FeedsvcError

HEARTBEAT_FILE = "feedsvc-daemon.json"

#: Beyond this much time past its earliest due job, a live daemon that is
#: not running any job is reported as stalled.
STALL_GRACE = 60.0

RUNNING = "running"
STOPPING = "stopping"
STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class JobBeat:
    """One job's record: a source (``seeds``, later each remote feed) or ``publish``."""

    name: str
    interval: float | None = None  # seconds between runs; None: runs on demand
    running: bool = False
    last_start: datetime | None = None
    last_end: datetime | None = None
    last_summary: str = ""  # what its last finished run did
    last_error: str | None = None  # the last failure, kept after later successes
    last_error_at: datetime | None = None
    next_due: datetime | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    pid: int
    state: str  # running, stopping, stopped
    started: datetime
    updated: datetime
    jobs: tuple[JobBeat, ...] = ()
    publish_pending: bool = False  # the store may hold changes not yet published
    config: str | None = None
    reload_error: str | None = None  # the last refused reload (cleared by a good one)
    once: bool = False  # written by ``run --once`` rather than the daemon

    def job(self, name: str) -> JobBeat | None:
        return next((j for j in self.jobs if j.name == name), None)

    def with_job(self, beat: JobBeat) -> Heartbeat:
        """The heartbeat with ``beat`` replacing the job of the same name (or added)."""
        jobs = [j for j in self.jobs if j.name != beat.name]
        jobs.append(beat)
        return replace(self, jobs=tuple(sorted(jobs, key=_job_order)))


def _job_order(beat: JobBeat) -> tuple[int, str]:
    # Sources first (seeds, then remote ones by name), publish last.
    return ({"seeds": 0, "publish": 2}.get(beat.name, 1), beat.name)


# ----------------------------------------------------------------------------- JSON


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("naive time in heartbeat")
    return moment


def to_json(hb: Heartbeat) -> dict[str, Any]:
    return {
        "pid": hb.pid,
        "state": hb.state,
        "once": hb.once,
        "started": _iso(hb.started),
        "updated": _iso(hb.updated),
        "config": hb.config,
        "publish_pending": hb.publish_pending,
        "reload_error": hb.reload_error,
        "jobs": [
            {
                "name": j.name,
                "interval": j.interval,
                "running": j.running,
                "last_start": _iso(j.last_start),
                "last_end": _iso(j.last_end),
                "last_summary": j.last_summary,
                "last_error": j.last_error,
                "last_error_at": _iso(j.last_error_at),
                "next_due": _iso(j.next_due),
            }
            for j in hb.jobs
        ],
    }


def from_json(raw: dict[str, Any]) -> Heartbeat:
    """The inverse of :func:`to_json`; ``ValueError`` (or ``KeyError``/``TypeError``)
    on a document that is not one."""
    started, updated = _time(raw["started"]), _time(raw["updated"])
    if started is None or updated is None:
        raise ValueError("heartbeat without start or update time")
    jobs = tuple(
        JobBeat(
            name=str(j["name"]),
            interval=None if j.get("interval") is None else float(j["interval"]),
            running=bool(j.get("running", False)),
            last_start=_time(j.get("last_start")),
            last_end=_time(j.get("last_end")),
            last_summary=str(j.get("last_summary") or ""),
            last_error=None if j.get("last_error") is None else str(j["last_error"]),
            last_error_at=_time(j.get("last_error_at")),
            next_due=_time(j.get("next_due")),
        )
        for j in raw.get("jobs", [])
    )
    return Heartbeat(
        pid=int(raw["pid"]),
        state=str(raw["state"]),
        started=started,
        updated=updated,
        jobs=jobs,
        publish_pending=bool(raw.get("publish_pending", False)),
        config=None if raw.get("config") is None else str(raw["config"]),
        reload_error=None if raw.get("reload_error") is None else str(raw["reload_error"]),
        once=bool(raw.get("once", False)),
    )


# ----------------------------------------------------------------------------- the file


def heartbeat_path(data_dir: Path) -> Path:
    return data_dir / HEARTBEAT_FILE


def write_heartbeat(data_dir: Path, hb: Heartbeat) -> None:
    """Replace the heartbeat file atomically.

    Not fsynced: after a power cut an older heartbeat (or none) is harmless.
    """
    path = heartbeat_path(data_dir)
    data = (json.dumps(to_json(hb), indent=1, ensure_ascii=False) + "\n").encode()
    try:
        write_if_changed(path, data, durable=False)
    except OSError as exc:
        raise FeedsvcError(f"cannot write the heartbeat: {exc.strerror}", where=path) from None


def read_heartbeat(data_dir: Path) -> Heartbeat | None:
    """The last heartbeat written, or None if there is none (or it is unreadable)."""
    try:
        raw = json.loads(heartbeat_path(data_dir).read_bytes())
        return from_json(raw)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def remove_stale_temps(data_dir: Path) -> None:
    """Remove heartbeat temp files a killed daemon left behind."""
    with suppress(OSError), os.scandir(data_dir) as it:
        for item in it:
            match = TEMP_NAME.fullmatch(item.name)
            if match and match["target"] == HEARTBEAT_FILE:
                with suppress(OSError):
                    Path(item.path).unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


# ----------------------------------------------------------------------------- status


@dataclass(frozen=True, slots=True)
class Liveness:
    state: str  # running, stalled, stopping, stopped, gone (killed or crashed)
    detail: str = field(default="")


def liveness(hb: Heartbeat, now: datetime, alive: bool) -> Liveness:
    """What the heartbeat says about the daemon now (``alive``: its pid exists)."""
    if hb.state == STOPPED:
        how = "one-shot run" if hb.once else "stopped"
        return Liveness(STOPPED, f"{how} at {_clock(hb.updated)}")
    if not alive:
        return Liveness("gone", f"pid {hb.pid} is gone without stopping (killed or crashed); "
                                f"last heartbeat {_clock(hb.updated)}")
    if hb.state == STOPPING:
        return Liveness(STOPPING, f"pid {hb.pid}, stopping since {_clock(hb.updated)}")
    due = [j.next_due for j in hb.jobs if j.next_due is not None]
    busy = any(j.running for j in hb.jobs)
    if not busy and due and (now - min(due)).total_seconds() > STALL_GRACE:
        return Liveness("stalled", f"pid {hb.pid}; jobs due since {_clock(min(due))} "
                                   "have not run")
    return Liveness(RUNNING, f"pid {hb.pid}, since {_clock(hb.started)}")


def _clock(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


__all__ = [
    "HEARTBEAT_FILE",
    "Heartbeat",
    "JobBeat",
    "Liveness",
    "from_json",
    "heartbeat_path",
    "liveness",
    "pid_alive",
    "read_heartbeat",
    "remove_stale_temps",
    "to_json",
    "write_heartbeat",
]
