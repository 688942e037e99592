"""The daemon: its pure decisions, its heartbeat, and the real ``feedsvc run``
in a subprocess against temp folders (short intervals, JSON logs)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import watchfiles
from conftest import feedsvc, seed_text, wait_until, write_seeds
from lxml import etree

from feedsvc.atomic import TEMP_NAME
from feedsvc.cli.status import render_heartbeat as render
from feedsvc.config import DaemonConfig, SiteConfig, parse_config
from feedsvc.daemon.heartbeat import (
    Heartbeat,
    JobBeat,
    from_json,
    liveness,
    read_heartbeat,
    to_json,
    write_heartbeat,
)
from feedsvc.daemon.jobs import JobResult, SourceJob
from feedsvc.daemon.logs import JsonFormatter
from feedsvc.daemon.policy import (
    PublishGate,
    due_once,
    gate_changed,
    gate_finished,
    gate_skipped,
    gate_started,
    jitter_for,
    next_run,
)
from feedsvc.daemon.watch import changed_paths, is_seed_change
from feedsvc.errors import ConfigError
from feedsvc.store import SQLiteStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
DATES = {"updated", "published", "pubDate", "lastBuildDate", "date"}


# ============================================================================ pure decisions


def test_a_burst_of_changes_gives_one_pending_publish() -> None:
    gate, due = gate_changed(PublishGate(), T0, 1.0)
    assert due == T0 + timedelta(seconds=1)
    for i in range(1, 200):
        gate, again = gate_changed(gate, T0 + timedelta(milliseconds=i), 1.0)
        assert again is None  # joins the pending publish
    assert gate.due == T0 + timedelta(seconds=1) and gate.pending


def test_changes_during_a_publish_give_exactly_one_more() -> None:
    gate, _ = gate_changed(PublishGate(), T0, 1.0)
    gate = gate_started(gate)
    assert gate.pending  # until it has finished
    for i in range(5):
        gate, due = gate_changed(gate, T0 + timedelta(seconds=i), 1.0)
        assert due is None and gate.dirty
    end = T0 + timedelta(seconds=10)
    gate, due = gate_finished(gate, end, 1.0, ok=True, retry=60)
    assert due == end + timedelta(seconds=1) and gate == PublishGate(due=due)
    gate = gate_started(gate)
    gate, due = gate_finished(gate, end, 1.0, ok=True, retry=60)
    assert due is None and gate == PublishGate() and not gate.pending


def test_a_failed_publish_is_retried_later_not_lost() -> None:
    gate = gate_started(PublishGate(due=T0))
    gate, due = gate_finished(gate, T0, 1.0, ok=False, retry=60)
    assert due == T0 + timedelta(seconds=60) and gate.pending


def test_a_skipped_publish_is_scheduled_again() -> None:
    gate, _ = gate_changed(PublishGate(), T0, 0.5)
    later = T0 + timedelta(seconds=1)
    gate, again = gate_skipped(gate, later, 0.5)
    assert again == later + timedelta(seconds=0.5) and gate.due == again


def _source(name: str, *, local: bool) -> SourceJob:
    def run(*_: object) -> JobResult:
        return JobResult(False, "")

    return SourceJob(name, 60, run, local=local)


def test_once_runs_local_sources_always_and_remote_ones_when_due() -> None:
    sources = [_source("seeds", local=True), _source("remote-a", local=False),
               _source("remote-b", local=False), _source("remote-new", local=False)]
    assert due_once(sources, None, T0) == ["seeds", "remote-a", "remote-b", "remote-new"]
    previous = Heartbeat(pid=1, state="stopped", started=T0, updated=T0, jobs=(
        JobBeat("seeds", next_due=T0 + timedelta(hours=1)),
        JobBeat("remote-a", next_due=T0 + timedelta(seconds=1)),  # backing off
        JobBeat("remote-b", next_due=T0),
    ))
    assert due_once(sources, previous, T0) == ["seeds", "remote-b", "remote-new"]


@pytest.mark.parametrize(("trigger", "hint", "expected"), [
    (T0, None, T0),
    (None, T0, T0),
    (T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=5)),  # Retry-After wins
    (T0 + timedelta(minutes=5), T0, T0 + timedelta(minutes=5)),  # never earlier than due
    (None, None, None),
])
def test_next_run_respects_a_source_hint(trigger: datetime | None, hint: datetime | None,
                                        expected: datetime | None) -> None:
    assert next_run(trigger, hint) == expected


@pytest.mark.parametrize(("interval", "jitter"), [(1, 0.1), (60, 6.0), (3600, 30.0)])
def test_jitter_is_a_tenth_capped(interval: float, jitter: float) -> None:
    assert jitter_for(interval) == pytest.approx(jitter)


@pytest.mark.parametrize(("change", "name", "expected"), [
    (watchfiles.Change.added, "001_a.txt", True),
    (watchfiles.Change.modified, "001_a.txt", True),
    (watchfiles.Change.deleted, "001_a.txt", False),
    (watchfiles.Change.added, ".001_a.txt.tmp", False),  # a file being written
    (watchfiles.Change.added, "001_a.txt.tmp", False),
    (watchfiles.Change.added, "notes.md", False),
    (watchfiles.Change.added, ".hidden.txt", False),
])
def test_which_changes_wake_the_scan(tmp_path: Path, change: watchfiles.Change, name: str,
                                     expected: bool) -> None:
    assert is_seed_change(change, str(tmp_path / name), "*.txt") is expected


def test_a_new_subfolder_wakes_the_scan(tmp_path: Path) -> None:
    (tmp_path / "2026-03").mkdir()
    assert is_seed_change(watchfiles.Change.added, str(tmp_path / "2026-03"), "*.txt")


@pytest.mark.parametrize(("text", "key"), [
    ("[daemon]\nscan_interval = 0\n", "daemon.scan_interval"),
    ("[daemon]\nscan_interval = 1.5\n", "daemon.scan_interval"),
    ("[daemon]\npublish_delay = -1\n", "daemon.publish_delay"),
    ("[daemon]\nlock_wait = 'long'\n", "daemon.lock_wait"),
    ("[daemon]\nwatch = 1\n", "daemon.watch"),
    ("[daemon]\nstop_timeout = 0\n", "daemon.stop_timeout"),
    ("[daemon]\nintervall = 5\n", "daemon.intervall"),
])
def test_daemon_keys_are_validated(text: str, key: str) -> None:
    import tomllib

    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), source=Path("/etc/feedsvc/config.toml"))
    assert f"'{key}'" in str(info.value) and "config.toml" in str(info.value)


def test_daemon_keys_are_read_and_default() -> None:
    cfg = parse_config({"daemon": {"scan_interval": 5, "publish_delay": 0.25, "watch": False}},
                       source=Path("/x/config.toml"))
    assert cfg.daemon == DaemonConfig(scan_interval=5, publish_delay=0.25, watch=False)
    assert parse_config({}, source=Path("/x/config.toml")).daemon == DaemonConfig()


def test_json_log_lines_carry_the_job_fields() -> None:
    record = logging.LogRecord("feedsvc.daemon.scheduler", logging.INFO, __file__, 1,
                               "%s: %s", ("seeds", "new 3"), None)
    record.feedsvc = {"job": "seeds", "counts": {"new": 3}, "duration": 0.5}
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "seeds: new 3" and doc["level"] == "info"
    assert doc["job"] == "seeds" and doc["counts"] == {"new": 3} and doc["duration"] == 0.5
    assert datetime.fromisoformat(doc["time"]).tzinfo is not None


# ============================================================================ heartbeat


def _beat(**kw: Any) -> Heartbeat:
    base: dict[str, Any] = {
        "pid": 4242, "state": "running", "started": T0, "updated": T0 + timedelta(seconds=30),
        "jobs": (JobBeat("seeds", interval=60, last_start=T0, last_end=T0 + timedelta(seconds=1),
                         last_summary="new 2, revised 0", next_due=T0 + timedelta(seconds=60),
                         last_error="disk full", last_error_at=T0 - timedelta(hours=1)),
                 JobBeat("publish", last_end=T0 + timedelta(seconds=3), last_summary="feeds 6")),
    }
    base.update(kw)
    return Heartbeat(**base)


def test_heartbeat_round_trips_through_the_file(tmp_path: Path) -> None:
    beat = _beat(publish_pending=True, reload_error="key 'daemon.watch': must be true or false")
    assert from_json(json.loads(json.dumps(to_json(beat)))) == beat
    write_heartbeat(tmp_path, beat)
    assert read_heartbeat(tmp_path) == beat
    assert not [p for p in tmp_path.iterdir() if TEMP_NAME.fullmatch(p.name)]


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"pid": 1}', b"\xff\xfe"])
def test_a_damaged_heartbeat_reads_as_none(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "feedsvc-daemon.json").write_bytes(content)
    assert read_heartbeat(tmp_path) is None
    assert read_heartbeat(tmp_path / "missing") is None


@pytest.mark.parametrize(("beat", "now", "alive", "state"), [
    (_beat(), T0 + timedelta(seconds=40), True, "running"),
    (_beat(), T0 + timedelta(seconds=40), False, "gone"),
    (_beat(state="stopped"), T0 + timedelta(days=2), False, "stopped"),
    (_beat(state="stopping"), T0 + timedelta(seconds=40), True, "stopping"),
    # due a minute after its interval and not running: stalled
    (_beat(), T0 + timedelta(seconds=200), True, "stalled"),
    # …but a long job in progress is not a stall
    (_beat(jobs=(JobBeat("seeds", running=True, last_start=T0, next_due=T0),)),
     T0 + timedelta(seconds=600), True, "running"),
])
def test_liveness(beat: Heartbeat, now: datetime, alive: bool, state: str) -> None:
    assert liveness(beat, now, alive).state == state


def test_render_shows_times_summaries_and_errors() -> None:
    text = render(_beat(publish_pending=True), T0 + timedelta(seconds=40), True)
    lines = text.splitlines()
    assert lines[0] == ("daemon: running (pid 4242, since 2026-03-01 12:00:00 UTC), "
                        "heartbeat 10 s ago")
    assert "publish pending" in text
    assert "  seeds    last 39 s ago: new 2, revised 0; next due in 20 s" in lines
    assert "           last error 61 min ago: disk full" in lines
    assert "  publish  last 37 s ago: feeds 6" in lines
    assert render(None, T0, False).startswith("daemon: no heartbeat")


# ============================================================================ the real daemon


def config_text(**daemon: object) -> str:
    values = {"scan_interval": 60, "publish_delay": 0.3, "watch": True, **daemon}
    lines = ["[daemon]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    # batches well below the folders' sizes, so that signals meet a run half done
    lines += ["[store]", "batch_files = 200"]
    return "\n".join(lines) + "\n"


def drop(folder: Path, name: str, text: str) -> None:
    """Land a seed file the documented way: written under a hidden name, then renamed."""
    temp = folder / f".{name}.part"
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, folder / name)


def feed_titles(path: Path) -> list[str]:
    try:
        root = etree.parse(str(path)).getroot()
    except (OSError, etree.XMLSyntaxError):
        return []
    return [e.findtext(f"{ATOM}title", "") for e in root.iter(f"{ATOM}entry")]


class Run:
    """A ``feedsvc run --log-format json`` subprocess, its log in a file."""

    count = 0

    def __init__(self, project: Path, *args: str) -> None:
        Run.count += 1
        self.project = project
        self.log = project / f"run-{Run.count}.log"
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "feedsvc", "run", "--log-format", "json", *args],
                cwd=project, stdout=subprocess.DEVNULL, stderr=err)

    def lines(self) -> list[dict[str, Any]]:
        text = self.log.read_text(encoding="utf-8")
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines()]

    def jobs(self, name: str) -> list[dict[str, Any]]:
        """Finished runs of a job (their one log line each)."""
        return [r for r in self.lines() if r.get("job") == name and "duration" in r]

    def wait_log(self, check: Callable[[dict[str, Any]], bool], timeout: float,
                 what: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"feedsvc run exited {self.proc.returncode} while "
                                     f"waiting for {what}:\n{self.log.read_text()}")
            return next((r for r in self.lines() if check(r)), None)

        try:
            return wait_until(found, timeout, what)  # type: ignore[no-any-return]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log.read_text()}") from None

    def wait_jobs(self, name: str, count: int, timeout: float) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.jobs(name)) >= count, timeout, f"{count} {name} run(s)")
        return self.jobs(name)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for r in started:
        r.kill()


def start(runs: list[Run], project: Path, *args: str) -> Run:
    r = Run(project, *args)
    runs.append(r)
    return r


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 distinct seed files, made once for the module (copying is cheap)."""
    folder = tmp_path_factory.mktemp("bank")
    write_seeds(folder, 1200, seed=11)
    return folder


def fill(project: Path, bank: Path, count: int) -> None:
    for path in sorted(bank.iterdir())[:count]:
        shutil.copy2(path, project / "seeds" / path.name)


def store_view(db: Path) -> list[tuple[Any, ...]]:
    """Every entry as a reader sees it, minus the times."""
    with SQLiteStore.open(db, site=SiteConfig(), readonly=True) as store:
        assert store.integrity_check() == []
        return sorted((e.id, e.section, e.title, e.authors, e.paragraphs, e.page)
                      for e in store.iter_entries())


def files_done(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM files").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def feeds_without_dates(out: Path) -> dict[str, bytes]:
    """Every feed file, canonicalised, with the texts of its date elements blanked."""
    feeds = {}
    for path in sorted(out.rglob("*.xml")):
        root = etree.parse(str(path)).getroot()  # also proves the file is whole XML
        for el in root.iter():
            if isinstance(el.tag, str) and etree.QName(el).localname in DATES:
                el.text = ""
        feeds[path.relative_to(out).as_posix()] = etree.tostring(root, method="c14n")
    return feeds


def out_files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def assert_consistent(project: Path) -> None:
    db = project / "data" / "feedsvc.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    out = project / "data" / "feeds"
    feeds_without_dates(out)
    temps = [p for p in (project / "data").rglob("*") if TEMP_NAME.fullmatch(p.name)]
    assert temps == [], temps


def published_once(project: Path, runs: list[Run], rng: random.Random, title: str,
                   interval: int) -> Run:
    """A daemon scanning every ``interval`` seconds (no watcher), started on
    one seed file titled ``title``, once it has published it."""
    (project / "config.toml").write_text(config_text(scan_interval=interval, watch=False))
    drop(project / "seeds", "000_first.txt", seed_text(rng, title=title))
    run = start(runs, project)
    run.wait_jobs("publish", 1, 30)
    return run


def test_new_files_reach_the_feeds_within_two_scan_intervals(project: Path,
                                                             runs: list[Run]) -> None:
    interval = 2
    rng = random.Random(3)
    run = published_once(project, runs, rng, "First article of the day", interval)
    atom = project / "data" / "feeds" / "atom.xml"
    assert feed_titles(atom) == ["First article of the day"]
    status = feedsvc("status", cwd=project).stdout
    assert "daemon: running" in status and "seeds" in status and "next due in" in status

    titles = [f"Second wave article number {i}" for i in range(3)]
    dropped = time.monotonic()
    for i, title in enumerate(titles):
        drop(project / "seeds", f"{i + 1:03d}_more.txt", seed_text(rng, title=title))
    wait_until(lambda: set(titles) <= set(feed_titles(atom)), 2 * interval,
               "the new titles in the root feed")
    assert time.monotonic() - dropped < 2 * interval
    assert json.loads(feedsvc("status", "--json", cwd=project).stdout)["daemon"][
        "liveness"] == "running"
    assert run.stop()[0] == 0


def test_a_separate_ingest_is_published_by_the_next_scan(project: Path, tmp_path: Path,
                                                         runs: list[Run]) -> None:
    interval = 2
    rng = random.Random(4)
    run = published_once(project, runs, rng, "Seen by the daemon", interval)
    # another folder, the same store: the daemon's own scan finds nothing new
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    drop(elsewhere, "001_other.txt", seed_text(rng, title="Ingested by hand"))
    feedsvc("ingest", "--seeds", elsewhere, cwd=project)
    atom = project / "data" / "feeds" / "atom.xml"
    run.wait_jobs("publish", 2, 3 * interval)
    assert "Ingested by hand" in feed_titles(atom)
    time.sleep(2.5 * interval)  # once published, later scans do not publish again
    assert len(run.jobs("publish")) == 2
    assert run.stop()[0] == 0


def test_the_watcher_names_files_and_asks_for_a_scan_when_a_folder_appears(
        tmp_path: Path) -> None:
    a, b = str(tmp_path / "a.txt"), str(tmp_path / "b.txt")
    (tmp_path / "2026-03").mkdir()
    assert changed_paths([(watchfiles.Change.added, a), (watchfiles.Change.modified, b),
                          (watchfiles.Change.added, a)]) == frozenset({a, b})
    # Files moved in with a folder raise no events of their own.
    assert changed_paths([(watchfiles.Change.added, a),
                          (watchfiles.Change.added, str(tmp_path / "2026-03"))]) is None
    assert changed_paths([]) == frozenset()


def test_the_watcher_brings_a_file_in_long_before_the_scan_interval(project: Path,
                                                                   runs: list[Run]) -> None:
    (project / "config.toml").write_text(config_text(scan_interval=3600, publish_delay=0.2))
    run = start(runs, project)
    run.wait_jobs("seeds", 1, 30)
    time.sleep(0.5)  # the watch is set up right after the first scan starts
    atom = project / "data" / "feeds" / "atom.xml"
    dropped = time.monotonic()
    drop(project / "seeds", "001_watched.txt",
         seed_text(random.Random(5), title="Watched folder delivers quickly"))
    wait_until(lambda: "Watched folder delivers quickly" in feed_titles(atom), 10, "the entry")
    assert time.monotonic() - dropped < 5
    # The watcher named the file: that run looked at it alone, not at the folder.
    named = [r for r in run.jobs("seeds") if r.get("named")]
    assert [r["counts"] for r in named] == [{"new": 1, "unchanged": 0}], run.jobs("seeds")
    assert run.stop()[0] == 0


def test_a_burst_of_200_files_gives_a_handful_of_publishes(project: Path, runs: list[Run],
                                                          bank: Path) -> None:
    (project / "config.toml").write_text(config_text(scan_interval=1, publish_delay=1.0))
    run = start(runs, project)
    run.wait_jobs("publish", 1, 30)  # the start-up publish (empty folder)
    before = len(run.jobs("publish"))
    for path in sorted(bank.iterdir())[:200]:
        drop(project / "seeds", path.name, path.read_text(encoding="utf-8"))
    db = project / "data" / "feedsvc.db"
    wait_until(lambda: files_done(db) == 200, 60, "200 files ingested")
    # then everything is published once the publish delay has passed
    pages = project / "data" / "feeds" / "articles"
    wait_until(lambda: len(list(pages.rglob("*.html"))) == 200, 30, "200 pages")
    time.sleep(2.5)  # room for any further publish to show up in the count
    publishes = len(run.jobs("publish")) - before
    scans = [r for r in run.jobs("seeds") if r["counts"].get("new")]
    assert sum(r["counts"]["new"] for r in scans) == 200
    assert 1 <= publishes <= 4, run.jobs("publish")
    assert len(feed_titles(project / "data" / "feeds" / "atom.xml")) == 50
    assert run.stop()[0] == 0


def test_sigterm_mid_ingest_exits_0_promptly_and_leaves_a_sound_store(
        project: Path, runs: list[Run], bank: Path) -> None:
    fill(project, bank, 1200)
    (project / "config.toml").write_text(config_text())
    run = start(runs, project)
    db = project / "data" / "feedsvc.db"
    wait_until(lambda: files_done(db) >= 1, 60, "a first committed batch", step=0.01)
    code, took = run.stop()
    assert code == 0
    assert took < DaemonConfig().stop_timeout
    log = run.lines()
    assert log[-1]["message"] == "run: stopped"
    assert any(r["message"].startswith("received SIGTERM") for r in log)
    assert not [r for r in log if r["level"] in ("error", "critical")]
    assert files_done(db) < 1200, "the signal came too late to test anything"
    assert_consistent(project)
    beat = read_heartbeat(project / "data")
    assert beat is not None and beat.state == "stopped"
    assert "daemon: stopped" in feedsvc("status", cwd=project).stdout
    # the rest is done by the next run, exactly once
    feedsvc("run", "--once", cwd=project)
    assert files_done(db) == 1200
    assert len(store_view(db)) == 1200


def test_sighup_applies_a_good_config_and_refuses_a_broken_one(project: Path,
                                                              runs: list[Run]) -> None:
    config = project / "config.toml"
    config.write_text(config_text(scan_interval=3600, watch=False))
    rng = random.Random(9)
    drop(project / "seeds", "001.txt", seed_text(rng, title="Before the reload"))
    run = start(runs, project)
    run.wait_jobs("publish", 1, 30)
    atom = project / "data" / "feeds" / "atom.xml"

    # good: a new site title and a short interval take effect without a restart
    config.write_text('[site]\ntitle = "Reloaded Times"\n' + config_text(scan_interval=1,
                                                                        watch=False))
    run.proc.send_signal(signal.SIGHUP)
    run.wait_log(lambda r: r["message"].startswith("configuration reloaded"), 10, "reload")
    wait_until(lambda: etree.parse(str(atom)).getroot().findtext(f"{ATOM}title")
               == "Reloaded Times", 10, "the new title in the feed")

    # broken: refused, logged with the key, and the running configuration goes on
    config.write_text('[site]\ntitle = "Broken"\n[daemon]\nscan_interval = 0\n')
    run.proc.send_signal(signal.SIGHUP)
    refused = run.wait_log(lambda r: r["message"].startswith("reload refused"), 10, "refusal")
    assert refused["level"] == "error" and "daemon.scan_interval" in refused["message"]
    drop(project / "seeds", "002.txt", seed_text(rng, title="After the broken reload"))
    # only the reloaded 1 s interval (no watcher) can bring it in this fast
    wait_until(lambda: "After the broken reload" in feed_titles(atom), 8, "the new entry")
    assert etree.parse(str(atom)).getroot().findtext(f"{ATOM}title") == "Reloaded Times"
    beat = read_heartbeat(project / "data")
    assert beat is not None and "daemon.scan_interval" in (beat.reload_error or "")
    # status itself reads the (broken) file, so it is pointed at a good one
    (project / "good.toml").write_text(config_text())
    status = feedsvc("status", "--config", "good.toml", cwd=project).stdout
    assert "reload refused" in status and "daemon.scan_interval" in status
    assert run.proc.poll() is None
    assert run.stop()[0] == 0


def test_publish_beside_a_busy_run_waits_or_refuses_and_ends_as_if_in_turn(
        project: Path, runs: list[Run], bank: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    fill(project, bank, 800)
    (project / "config.toml").write_text(config_text(publish_delay=0.2))
    run = start(runs, project)
    db = project / "data" / "feedsvc.db"
    wait_until(lambda: files_done(db) >= 1, 60, "the daemon's first batch", step=0.01)
    # Freeze the daemon inside its job: it holds the writer lock for as long as we like.
    run.proc.send_signal(signal.SIGSTOP)
    try:
        assert files_done(db) < 800
        refused = feedsvc("publish", "--wait", "0", cwd=project, check=False)
        assert refused.returncode == 5
        assert "another feedsvc process is writing" in refused.stderr
        assert "Traceback" not in refused.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "feedsvc", "publish", "-q"],
                                   cwd=project, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        assert waiting.poll() is None, "publish did not wait for the writer lock"
    finally:
        run.proc.send_signal(signal.SIGCONT)
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    run.wait_log(lambda r: r.get("job") == "publish" and "duration" in r, 60, "its publish")
    assert run.stop()[0] == 0
    assert_consistent(project)

    # never two writers at once: the ingest runs recorded in the store never overlap
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        spans = conn.execute("SELECT started, finished FROM runs ORDER BY started").fetchall()
    conn.close()
    assert len(spans) >= 2
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert end is not None and end <= begin

    # the same folder, ingested and published in turn, gives the same store and feeds
    clean = tmp_path_factory.mktemp("in-turn")
    feedsvc("ingest", "--seeds", project / "seeds", "--db", clean / "s.db", cwd=clean)
    feedsvc("publish", "--seeds", project / "seeds", "--db", clean / "s.db",
            "--out", clean / "out", cwd=clean)
    assert store_view(db) == store_view(clean / "s.db")
    out = project / "data" / "feeds"
    assert out_files(out) == out_files(clean / "out")
    assert feeds_without_dates(out) == feeds_without_dates(clean / "out")


def test_once_runs_due_jobs_then_exits_and_one_daemon_per_data_folder(
        project: Path, runs: list[Run]) -> None:
    (project / "config.toml").write_text(config_text())
    drop(project / "seeds", "001.txt", seed_text(random.Random(1), title="Once is enough"))
    first = feedsvc("run", "--once", cwd=project)
    assert "seeds: new 1" in first.stderr and "publish: feeds" in first.stderr
    assert feed_titles(project / "data" / "feeds" / "atom.xml") == ["Once is enough"]
    again = feedsvc("run", "--once", cwd=project)
    assert "seeds: new 0" in again.stderr and "publish:" not in again.stderr
    beat = read_heartbeat(project / "data")
    assert beat is not None and beat.once and beat.state == "stopped"
    assert not beat.publish_pending

    run = start(runs, project)
    run.wait_jobs("seeds", 1, 30)
    for args in (["run"], ["run", "--once"]):
        second = feedsvc(*args, cwd=project, check=False)
        assert second.returncode == 5
        assert "already running" in second.stderr and str(run.proc.pid) in second.stderr
    assert run.stop()[0] == 0


def test_once_finishes_a_publish_that_a_kill_interrupted(project: Path) -> None:
    (project / "config.toml").write_text(config_text())
    drop(project / "seeds", "001.txt", seed_text(random.Random(4), title="Killed mid-way"))
    feedsvc("run", "--once", cwd=project)
    atom = project / "data" / "feeds" / "atom.xml"
    atom.unlink()
    # what a daemon killed inside a job leaves: a heartbeat with a publish pending
    beat = read_heartbeat(project / "data")
    assert beat is not None and not beat.publish_pending
    write_heartbeat(project / "data", replace(beat, state="running", publish_pending=True))
    result = feedsvc("run", "--once", cwd=project)
    assert "seeds: new 0" in result.stderr and "publish: feeds" in result.stderr
    assert feed_titles(atom) == ["Killed mid-way"]
    beat = read_heartbeat(project / "data")
    assert beat is not None and not beat.publish_pending


def test_run_refuses_a_missing_seeds_folder_and_a_broken_config(project: Path) -> None:
    shutil.rmtree(project / "seeds")
    missing = feedsvc("run", cwd=project, check=False)
    assert missing.returncode == 3 and "seeds" in missing.stderr
    (project / "config.toml").write_text("[daemon]\nwatch = 'yes'\n")
    broken = feedsvc("run", "--once", cwd=project, check=False)
    assert broken.returncode == 2 and "daemon.watch" in broken.stderr


@pytest.mark.slow
def test_crash_loop_of_kill_9_then_the_same_result_as_a_clean_run(
        project: Path, runs: list[Run], tmp_path_factory: pytest.TempPathFactory) -> None:
    count = 3000
    write_seeds(project / "seeds", count, seed=23)
    (project / "config.toml").write_text(config_text(publish_delay=0.2))
    rng = random.Random(2026)
    db = project / "data" / "feedsvc.db"
    progress = []
    for i in range(20):
        run = start(runs, project)
        if i == 0:  # once right after the first batch is committed: surely mid-ingest
            wait_until(lambda: files_done(db) > 0, 60, "the first batch", step=0.01)
        else:  # elsewhere at random: mid-ingest, mid-publish, at rest
            time.sleep(rng.uniform(0.5, 5.0))
        run.kill()
        progress.append(files_done(db))
        if db.exists():
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            conn.close()
        for feed in (project / "data" / "feeds").rglob("*.xml"):
            etree.parse(str(feed))  # every feed file on disk is whole
    assert any(0 < done < count for done in progress), progress  # killed mid-ingest
    feedsvc("run", "--once", cwd=project)
    assert_consistent(project)
    assert files_done(db) == count

    clean = tmp_path_factory.mktemp("clean")
    shutil.copytree(project / "seeds", clean / "seeds")
    shutil.copy(project / "config.toml", clean / "config.toml")
    feedsvc("run", "--once", cwd=clean)
    assert store_view(db) == store_view(clean / "data" / "feedsvc.db")
    assert out_files(project / "data" / "feeds") == out_files(clean / "data" / "feeds")
    assert feeds_without_dates(project / "data" / "feeds") == feeds_without_dates(
        clean / "data" / "feeds")
