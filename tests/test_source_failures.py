"""``feedsvc status`` keeps each failing remote source's last error, with its
time and how many fetches failed in a row, until a fetch of it succeeds:
the real CLI against a loopback HTTP server."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from conftest import feedsvc
from test_fetch import feed_handler, http, server  # noqa: F401  (fixtures)
from test_sources import Site, doc, site, source, status  # noqa: F401  (fixtures)
from werkzeug import Response

from feedsvc.cli.status import SourceFailure, render_failures


def _status(project: Path) -> tuple[str, list[dict[str, object]]]:
    text = feedsvc("status", cwd=project).stdout
    doc = json.loads(feedsvc("status", "--json", cwd=project).stdout)
    return text, doc["failing_sources"]


def test_status_keeps_a_sources_last_error_until_it_succeeds(site: Site) -> None:  # noqa: F811
    project = site.tmp
    wire = site.serve("/wire.xml", status(500))
    steady = site.serve("/steady.xml", feed_handler(doc("atom10.xml")))
    site.config(source(wire, "wire") + source(steady, "steady"), interval=1, backoff_cap=1)
    before = datetime.now(UTC).replace(microsecond=0)

    feedsvc("ingest", "--only", "feeds", cwd=project)
    text, failing = _status(project)
    assert "failing sources: 1\n  wire: failed 1 time in a row, last at " in text
    assert "steady" not in text.split("failing sources:")[1].split("daemon:")[0]
    [entry] = failing
    assert entry["name"] == "wire" and entry["errors_in_a_row"] == 1
    assert "500" in str(entry["error"])
    first = datetime.fromisoformat(str(entry["failed_at"]))
    assert before <= first <= datetime.now(UTC)

    # a daemon's one-shot run replaces the heartbeat's summaries: the error stays
    time.sleep(1.1)  # the backoff (capped at 1 s) has passed
    feedsvc("run", "--once", cwd=project)
    text, failing = _status(project)
    assert "wire: failed 2 times in a row" in text and "500" in text
    [entry] = failing
    assert entry["errors_in_a_row"] == 2
    assert datetime.fromisoformat(str(entry["failed_at"])) > first

    site.serve("/wire.xml", feed_handler(doc("rss20.xml")))
    time.sleep(1.1)
    feedsvc("ingest", "--only", "feeds", cwd=project)
    text, failing = _status(project)
    assert "failing sources: none" in text and failing == []


def test_a_servers_words_cannot_drive_the_terminal(site: Site) -> None:  # noqa: F811
    wire = site.serve("/wire.xml", lambda _r: Response(
        "no", status="502 Bad\x1b[2J\x1b]0;owned\x07 Gateway"))
    site.config(source(wire, "wire"))
    feedsvc("ingest", "--only", "feeds", cwd=site.tmp)
    text = feedsvc("status", cwd=site.tmp).stdout
    assert "\x1b" not in text and "\x07" not in text
    assert "failing sources: 1" in text and "502 Bad\\x1b[2J\\x1b]0;owned\\x07 Gateway" in text


def test_render_escapes_and_counts() -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    text = render_failures([
        SourceFailure("a\nb", "HTTP 500\x1b[31m\u2028fake line", at, 3, None),
        SourceFailure("gone", "HTTP 410", at, 1, "HTTP 410 Gone"),
    ])
    assert text.splitlines() == [
        "failing sources: 2",
        "  a\\nb: failed 3 times in a row, last at 2026-03-01 12:00:00 UTC: "
        "HTTP 500\\x1b[31m\\u2028fake line",
        "  gone: failed 1 time in a row, last at 2026-03-01 12:00:00 UTC: HTTP 410",
        "    disabled: HTTP 410 Gone",
    ]
