"""Remote sources end to end: a real HTTP server on 127.0.0.1 with scripted
faults, a real store, the published output, the CLI and the daemon's jobs.

Each fault is checked for three things: the right state is stored, the other
sources of the same run are unaffected, and nothing already stored is lost.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from conftest import feedsvc, wait_until
from lxml import etree
from pytest_httpserver import HTTPServer
from test_fetch import feed_handler, http, route, server  # noqa: F401  (fixtures)
from werkzeug import Request, Response

from feedsvc.cli.sources import render_sources, source_lines, sources_json
from feedsvc.config import Config, load_config, parse_config
from feedsvc.daemon.jobs import feed_job_id, remote_sources
from feedsvc.daemon.scheduler import Daemon
from feedsvc.errors import ConfigError
from feedsvc.lsh import bands_for
from feedsvc.models import Decision
from feedsvc.publish import publish
from feedsvc.remote.ingest import SourceReport, SourcesReport, ingest_sources
from feedsvc.store import SourceState, SQLiteStore, Store

FEEDS = Path(__file__).resolve().parent / "feeds"
A = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Site:
    """A project folder, a store, and a switchable feed server."""

    tmp: Path
    http: HTTPServer
    clock: Clock = field(default_factory=Clock)
    bodies: dict[str, Callable[[Request], Response]] = field(default_factory=dict)

    def serve(self, path: str, handler: Callable[[Request], Response]) -> str:
        """Serve ``path``; ``serve`` again to change what it answers."""
        if path not in self.bodies:
            route(self.http, path, lambda request: self.bodies[path](request))
        self.bodies[path] = handler
        return self.http.url_for(path)

    def config(self, sources: str, **fetch: float) -> Config:
        """config.toml with these sources and small fetch bounds (``fetch`` overrides)."""
        bounds = {"min_interval": 1, "interval": 60, "max_interval": 86400,
                  "connect_timeout": 0.5, "read_timeout": 0.3, "total_timeout": 1.0, **fetch}
        table = "".join(f"{k} = {v}\n" for k, v in bounds.items())
        text = f'[site]\nbase_url = "https://news.example.org/"\n[fetch]\n{table}{sources}'
        path = self.tmp / "config.toml"
        path.write_text(text, encoding="utf-8")
        (self.tmp / "seeds").mkdir(exist_ok=True)
        return load_config(path)

    def store(self, config: Config) -> Store:
        return SQLiteStore.open(config.store.path, site=config.site, clock=self.clock)

    def ingest(self, config: Config, *, force: bool = False) -> SourcesReport:
        with self.store(config) as store:
            return ingest_sources(store, config, force=force, clock=self.clock)

    def states(self, config: Config) -> dict[str, SourceState]:
        with self.store(config) as store:
            return store.source_states()

    def entries(self, config: Config) -> list[tuple[str, str, str | None]]:
        """(id, title, link) of every stored entry."""
        with self.store(config) as store:
            return [(e.id, e.title, e.link) for e in store.iter_entries()]

    def rows(self, config: Config, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(config.store.path) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def site(tmp_path: Path, http: HTTPServer) -> Site:  # noqa: F811
    return Site(tmp_path, http)


def doc(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def body(data: bytes, **headers: str) -> Callable[[Request], Response]:
    return lambda _r: Response(data, headers={"Content-Type": "application/xml", **headers})


def status(code: int, **headers: str) -> Callable[[Request], Response]:
    return lambda _r: Response("nope", status=code, headers=headers)


def source(url: str, name: str, section: str = "World", extra: str = "") -> str:
    return f'[[sources]]\nurl = "{url}"\nname = "{name}"\nsection = "{section}"\n{extra}\n'


def report_of(report: SourcesReport, name: str) -> SourceReport:
    return next(r for r in report.sources if r.name == name)


# ----------------------------------------------------------------------------- the happy path


def test_first_fetch_stores_entries_state_and_origin(site: Site) -> None:
    url = site.serve("/wire.xml", feed_handler(doc("rss20.xml")))
    cfg = site.config(source(url, "wire"))
    report = site.ingest(cfg)
    assert report.counts == {"new": 2}
    assert report_of(report, "wire").outcome == "fetched"
    state = site.states(cfg)["wire"]
    assert (state.last_status, state.etag, state.errors, state.entries) == (200, '"v1"', 0, 2)
    assert state.last_modified == "Fri, 20 Nov 2026 12:00:00 GMT"
    assert state.last_fetch == T0
    assert state.interval == 7200  # <ttl>120</ttl> raised the 60 s interval
    assert state.next_due == T0 + timedelta(seconds=7200)
    assert state.title == "Valley Business Wire"
    with site.store(cfg) as store:
        rice, att = sorted(store.iter_entries(), key=lambda e: e.title, reverse=True)
    assert rice.link == ("https://wire.example.com/markets/rice-record"
                         "?utm_source=rss&utm_medium=feed")
    assert rice.id.startswith("tag:news.example.org,2026-11-27:world/")
    assert rice.published == rice.updated == datetime(2026, 11, 19, 7, 45, tzinfo=UTC)
    assert rice.content_html is not None and "<script" not in rice.content_html
    assert f'href="{url.rsplit("/", 1)[0]}/markets/prices"' in rice.content_html  # absolute
    assert rice.authors == ("Ana Lima",)
    assert rice.origin is not None
    assert (rice.origin.source, rice.origin.original_id, rice.origin.dated) == \
        ("wire", "wire-2026-1101", True)
    assert rice.origin.feed_title == "Valley Business Wire"
    assert rice.origin.feed_id == url  # RSS has no feed id: its URL stands in
    assert att.title == "AT&T opens a valley office"


def test_304_parses_nothing_and_refreshes_validators(site: Site) -> None:
    def handle(request: Request) -> Response:
        if request.headers.get("If-None-Match") in ('"v1"', '"v2"'):
            # unchanged, and the server has moved its validator on
            return Response(status=304, headers={"ETag": '"v2"'})
        return Response(doc("rss20.xml"), headers={"ETag": '"v1"'})

    url = site.serve("/wire.xml", handle)
    cfg = site.config(source(url, "wire"))
    site.ingest(cfg)
    before = site.entries(cfg)
    report = site.ingest(cfg, force=True)
    assert report_of(report, "wire").outcome == "not-modified"
    assert report.counts == {}
    state = site.states(cfg)["wire"]
    assert (state.last_status, state.etag, state.errors) == (304, '"v2"', 0)
    assert site.entries(cfg) == before
    site.ingest(cfg, force=True)
    assert site.http.log[-1][0].headers["If-None-Match"] == '"v2"'


def test_same_body_without_validators_is_not_parsed(site: Site) -> None:
    url = site.serve("/plain.xml", body(doc("rss20.xml")))
    cfg = site.config(source(url, "plain"))
    site.ingest(cfg)
    site.clock.advance(10)
    report = site.ingest(cfg, force=True)
    assert report_of(report, "plain").outcome == "same-body"
    assert report.counts == {}
    assert site.states(cfg)["plain"].last_fetch == T0 + timedelta(seconds=10)


def test_what_has_arrived_is_stored_while_the_last_sources_are_fetched(site: Site) -> None:
    """Fewer sources still to come than a transaction's worth: the writer stores
    what is ready at once instead of waiting for a full group."""
    release = threading.Event()

    def late(_r: Request) -> Response:
        release.wait(10)
        return Response(doc("atom10.xml"), headers={"Content-Type": "application/xml"})

    cfg = site.config(source(site.serve("/wire.xml", body(doc("rss20.xml"))), "wire")
                      + source(site.serve("/rdf.xml", body(doc("rss10.rdf"))), "rdf")
                      + source(site.serve("/late.xml", late), "late"),
                      read_timeout=20, total_timeout=20)

    def stored() -> set[str]:
        try:
            return {str(r[0]) for r in site.rows(cfg, "SELECT DISTINCT source FROM source_entries")}
        except sqlite3.Error:  # no store, or no schema yet
            return set()

    done: list[SourcesReport] = []
    worker = threading.Thread(target=lambda: done.append(site.ingest(cfg)))
    worker.start()
    try:
        wait_until(lambda: stored() == {"wire", "rdf"}, 10, "the first two sources stored")
        assert not done  # the last source is still being fetched
    finally:
        release.set()
        worker.join(30)
    assert stored() == {"wire", "rdf", "late"}
    assert done and done[0].outcomes == {"fetched": 3}


def test_an_entry_a_stale_plan_took_for_unchanged_is_fingerprinted_when_stored(
        site: Site) -> None:
    """The plan says the store has the entry as it is (so it was not
    fingerprinted beside the parsing), but the store does not: it is
    fingerprinted where it is stored, exactly as it would have been."""
    from dataclasses import replace

    from feedsvc.dedup import fingerprint
    from feedsvc.remote.ingest import apply_fetched, fetch_plans, read_plans
    from feedsvc.remote.keys import assign_keys
    from feedsvc.remote.parse import parse_feed
    from feedsvc.remote.prepare import item_hash

    url = site.serve("/wire.xml", body(doc("rss20.xml")))
    cfg = site.config(source(url, "wire"))
    keyed, _, _ = assign_keys(parse_feed(doc("rss20.xml"), url).items)
    with site.store(cfg) as store:
        plans, _ = read_plans(store, cfg, now=site.clock())
        stale = [replace(plans[0], known={k.key: item_hash(k.item) for k in keyed})]
        fetched = fetch_plans(stale, cfg, clock=site.clock)
        assert fetched[0].items and all(p.fingerprint is None for p in fetched[0].items)
        report = apply_fetched(store, cfg, fetched)
        assert report.counts.get("new") == len(keyed)
        by_title = {e.title: e for e in store.iter_entries()}
    with sqlite3.connect(cfg.store.path) as conn:
        hashes = {bytes(r[0]) for r in conn.execute("SELECT content_hash FROM versions")}
    assert hashes == {fingerprint(p.article).content_hash for p in fetched[0].items}
    assert set(by_title) == {p.article.title for p in fetched[0].items}


def test_fetch_results_go_to_the_callback_and_are_not_also_kept(site: Site) -> None:
    """Without a callback the results come back in the plans' order; with one,
    each goes to it and none is held back (a run of many feeds would hold
    every parsed entry in memory until it ends)."""
    from feedsvc.remote.ingest import fetch_plans, read_plans

    urls = [site.serve(f"/{name}.xml", body(doc(f"{name}.xml"))) for name in ("rss20", "atom10")]
    cfg = site.config(source(urls[0], "wire") + source(urls[1], "atom"))
    with site.store(cfg) as store:
        plans, _ = read_plans(store, cfg, now=site.clock())
    kept = fetch_plans(plans, cfg, clock=site.clock)
    assert [f.plan.source.name for f in kept] == ["wire", "atom"]
    assert all(f.items for f in kept)
    handed: dict[int, str] = {}
    assert fetch_plans(plans, cfg, clock=site.clock,
                       done=lambda i, f: handed.update({i: f.plan.source.name})) == []
    assert handed == {0: "wire", 1: "atom"}


def test_not_due_sources_are_left_alone(site: Site) -> None:
    url = site.serve("/wire.xml", feed_handler(doc("rss20.xml")))
    cfg = site.config(source(url, "wire"))
    site.ingest(cfg)
    hits = len(site.http.log)
    report = site.ingest(cfg)  # due again only in two hours
    assert report_of(report, "wire").outcome == "not-due"
    assert len(site.http.log) == hits
    site.clock.advance(7200)
    assert report_of(site.ingest(cfg), "wire").outcome == "not-modified"


# ----------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("code", [301, 308])
def test_permanent_redirect_is_remembered(site: Site, code: int) -> None:
    new = site.serve("/new.xml", feed_handler(doc("rss20.xml")))
    old = site.serve("/old.xml", status(code, Location="/new.xml"))
    cfg = site.config(source(old, "moved"))
    site.ingest(cfg)
    assert site.states(cfg)["moved"].current_url == new
    site.http.clear_log()
    report = site.ingest(cfg, force=True)
    assert [r.path for r, _ in site.http.log] == ["/new.xml"]  # straight to the new URL
    assert report_of(report, "moved").outcome == "not-modified"
    with site.store(cfg) as store:
        lines = render_sources(source_lines(cfg, store), T0)
    assert f"{new}  (moved permanently from {old})" in lines


@pytest.mark.parametrize("code", [302, 307])
def test_temporary_redirect_is_not_remembered(site: Site, code: int) -> None:
    site.serve("/today.xml", feed_handler(doc("rss20.xml")))
    old = site.serve("/feed.xml", status(code, Location="/today.xml"))
    cfg = site.config(source(old, "temp"))
    assert site.ingest(cfg).counts == {"new": 2}
    assert site.states(cfg)["temp"].current_url is None
    site.http.clear_log()
    site.ingest(cfg, force=True)
    assert [r.path for r, _ in site.http.log] == ["/feed.xml", "/today.xml"]


# ----------------------------------------------------------------------------- faults


def _trickle(_r: Request) -> Response:
    def chunks() -> Iterator[bytes]:
        yield doc("rss20.xml")[:200]
        for _ in range(60):
            time.sleep(0.05)
            yield b" "
    return Response(chunks(), direct_passthrough=True)


def _hang(_r: Request) -> Response:
    time.sleep(1.2)
    return Response(doc("rss20.xml"))


def _huge(_r: Request) -> Response:
    def chunks() -> Iterator[bytes]:
        yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>'
        block = b"<!--" + b"z" * 60_000 + b"-->"
        for _ in range(50 * 1024 * 1024 // len(block)):
            yield block
    return Response(chunks(), direct_passthrough=True)


FAULTS: dict[str, tuple[Callable[[Request], Response], str]] = {
    "404": (status(404), "HTTP 404"),
    "500": (status(500), "HTTP 500"),
    "429 with Retry-After": (status(429, **{"Retry-After": "30"}), "HTTP 429"),
    "503 with Retry-After": (status(503, **{"Retry-After": "30"}), "HTTP 503"),
    "redirect loop": (status(302, Location="/faulty.xml"), "redirect loop"),
    "hang": (_hang, "timed out"),
    "slow trickle": (_trickle, "total time bound"),
    "50 MB body": (_huge, "larger than"),
    "invalid XML": (body(doc("not-a-feed.html")), "not a readable feed"),
    "billion laughs": (body(doc("billion-laughs.xml")), "refused"),
    "external entity": (body(doc("xxe.xml")), "refused"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_is_recorded_backed_off_and_harms_nothing(site: Site, fault: str) -> None:
    faulty = site.serve("/faulty.xml", body(doc("rss10.rdf")))
    healthy = site.serve("/healthy.xml", body(doc("atom03.xml")))
    cfg = site.config(source(faulty, "faulty") + source(healthy, "healthy", "Rail"),
                      max_bytes=1048576)
    assert site.ingest(cfg).counts == {"new": 4}
    before = site.entries(cfg)
    handler, message = FAULTS[fault]
    site.serve("/faulty.xml", handler)
    site.serve("/healthy.xml", body(doc("atom03.xml").replace(b"at dawn", b"at sunrise")))
    site.clock.advance(100)
    report = site.ingest(cfg, force=True)
    bad, good = report_of(report, "faulty"), report_of(report, "healthy")
    assert bad.outcome == "failed" and message in (bad.message or "")
    assert good.outcome == "fetched" and good.counts == {"revised": 1, "unchanged": 1}
    states = site.states(cfg)
    st = states["faulty"]
    assert st.errors == 1 and message in (st.last_error or "")
    assert st.next_due is not None and st.next_due > site.clock.now  # backed off
    assert st.entries == 2 and st.body_hash is not None  # the last good body is kept
    assert states["healthy"].errors == 0
    after = site.entries(cfg)
    assert {e[0] for e in before} <= {e[0] for e in after}  # nothing lost
    assert len(after) == 4
    # recovered: the next fetch clears the error
    site.serve("/faulty.xml", body(doc("rss10.rdf")))
    site.clock.advance(100_000)
    assert report_of(site.ingest(cfg), "faulty").outcome == "same-body"
    assert site.states(cfg)["faulty"].errors == 0


def test_backoff_grows_with_each_failure_and_is_capped(site: Site) -> None:
    url = site.serve("/down.xml", status(500))
    cfg = site.config(source(url, "down"), backoff_cap=400)
    waits = []
    for _ in range(6):
        site.ingest(cfg, force=True)
        st = site.states(cfg)["down"]
        assert st.next_due is not None
        waits.append((st.next_due - site.clock.now).total_seconds())
    assert [site.states(cfg)["down"].errors] == [6]
    for n, wait in enumerate(waits, start=1):
        expected = min(400, 60 * 2 ** (n - 1))
        assert 0.8 * expected <= wait <= min(400, 1.2 * expected)


def test_410_disables_the_source_until_enabled(site: Site) -> None:
    url = site.serve("/gone.xml", body(doc("rss20.xml")))
    other = site.serve("/other.xml", body(doc("atom03.xml")))
    cfg = site.config(source(url, "gone") + source(other, "other"))
    site.ingest(cfg)
    site.serve("/gone.xml", status(410))
    report = site.ingest(cfg, force=True)
    assert report_of(report, "gone").outcome == "gone"
    assert report_of(report, "other").outcome == "same-body"
    st = site.states(cfg)["gone"]
    assert st.disabled is not None and "410" in st.disabled
    assert "feedsvc sources enable gone" in st.disabled
    assert st.next_due is None and st.entries == 2
    site.http.clear_log()
    report = site.ingest(cfg, force=True)
    assert report_of(report, "gone").outcome == "disabled"
    assert [r.path for r, _ in site.http.log] == ["/other.xml"]  # not asked again
    assert len(site.entries(cfg)) == 4  # nothing lost
    with site.store(cfg) as store:
        assert "DISABLED:" in render_sources(source_lines(cfg, store), T0)
        with store.batch():
            assert store.enable_source("gone")
            assert not store.enable_source("gone")
    site.serve("/gone.xml", body(doc("rss20.xml")))
    assert report_of(site.ingest(cfg), "gone").outcome == "same-body"


def test_429_retry_after_is_honoured(site: Site) -> None:
    url = site.serve("/busy.xml", status(429, **{"Retry-After": "900"}))
    cfg = site.config(source(url, "busy"))
    report = site.ingest(cfg)
    assert report_of(report, "busy").status == 429
    st = site.states(cfg)["busy"]
    assert st.next_due == T0 + timedelta(seconds=900)  # far past the 60 s backoff
    site.clock.advance(600)
    assert report_of(site.ingest(cfg), "busy").outcome == "not-due"


def test_503_retry_after_date(site: Site) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    url = site.serve("/maint.xml", status(503, **{"Retry-After": when}))
    cfg = site.config(source(url, "maint"))
    site.ingest(cfg)
    due = site.states(cfg)["maint"].next_due
    assert due is not None and due >= T0 + timedelta(minutes=59)


@pytest.mark.parametrize(("headers", "interval"), [
    ({"Cache-Control": "max-age=1800"}, 1800),
    ({"Cache-Control": "max-age=999999"}, 3600),  # bounded by max_interval
    ({"Cache-Control": "max-age=5"}, 60),  # never below the configured interval
    # The test server sends its own Date (the real time), so Expires lies far
    # enough ahead of any run's clock to be bounded by max_interval;
    # test_fetch.py pins Expires minus Date exactly.
    ({"Expires": format_datetime(datetime.now(UTC) + timedelta(days=2), usegmt=True)}, 3600),
])
def test_cache_hints_raise_the_interval(site: Site, headers: dict[str, str],
                                        interval: int) -> None:
    url = site.serve("/cached.xml", body(doc("atom03.xml"), **headers))
    cfg = site.config(source(url, "cached"), max_interval=3600)
    site.ingest(cfg)
    st = site.states(cfg)["cached"]
    assert st.interval == interval
    assert st.next_due == T0 + timedelta(seconds=interval)


# ----------------------------------------------------------------------------- bodies


def test_gzip_body_and_a_wrong_charset_header(site: Site) -> None:
    data = doc("rss10.rdf").replace(b"Coral survey", "Coral survey at Kōchi café".encode())
    url = site.serve("/gz.xml", body(gzip.compress(data), **{
        "Content-Encoding": "gzip", "Content-Type": "text/xml; charset=iso-8859-1"}))
    cfg = site.config(source(url, "gz"))
    assert site.ingest(cfg).counts == {"new": 2}
    titles = {t for _, t, _ in site.entries(cfg)}
    assert "Coral survey at Kōchi café finds recovery on the northern reef" in titles


def test_malformed_feed_with_entries_is_ingested_with_a_warning(site: Site) -> None:
    url = site.serve("/broken.xml", body(doc("invalid-recoverable.xml")))
    cfg = site.config(source(url, "broken"))
    report = site.ingest(cfg)
    assert report.counts == {"new": 2}
    st = site.states(cfg)["broken"]
    assert st.errors == 0 and st.note is not None and "malformed" in st.note


def test_duplicate_and_missing_guids_fall_back_and_stay_stable(site: Site) -> None:
    reused = site.serve("/reused.xml", body(doc("guids-reused.xml")))
    missing = site.serve("/missing.xml", body(doc("guids-missing.xml")))
    cfg = site.config(source(reused, "reused") + source(missing, "missing", "Village"))
    assert site.ingest(cfg).counts == {"new": 7}
    states = site.states(cfg)
    assert "identified by their links" in (states["reused"].note or "")
    assert "guids missing for 3" in (states["missing"].note or "")
    # the same items in a changed document (reordered): recognised, nothing new
    head, *items = doc("guids-reused.xml").split(b"<item>")
    items[-1], tail = items[-1].split(b"</channel>")
    reordered = b"<item>".join([head, items[2], items[0], items[1]]) + b"</channel>" + tail
    site.serve("/reused.xml", body(reordered))
    site.clock.advance(100)
    report = site.ingest(cfg, force=True)
    assert report_of(report, "reused").counts == {"unchanged": 3}
    assert len(site.entries(cfg)) == 7


def test_relative_links_become_absolute(site: Site) -> None:
    data = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Rel</title>'
            b"<link>/</link><description>d</description><item><title>Relative</title>"
            b"<link>/posts/1.html</link><guid>rel-1</guid>"
            b"<description>&lt;a href=\"../img/x.png\"&gt;pic&lt;/a&gt;</description>"
            b"</item></channel></rss>")
    url = site.serve("/dir/rel.xml", body(data))
    cfg = site.config(source(url, "rel"))
    site.ingest(cfg)
    with site.store(cfg) as store:
        (entry,) = store.iter_entries()
    root = url.split("/dir/")[0]
    assert entry.link == f"{root}/posts/1.html"
    assert entry.content_html is not None and f'href="{root}/img/x.png"' in entry.content_html


# ----------------------------------------------------------------------------- entries


def test_the_same_article_in_two_feeds_is_one_entry(site: Site) -> None:
    a = site.serve("/a.xml", body(doc("shared-a.xml")))
    b = site.serve("/b.xml", body(doc("shared-b.xml")))
    cfg = site.config(source(a, "herald") + source(b, "digest"))
    report = site.ingest(cfg)
    # herald: 2 new; digest: the typhoon story twice over (tracking parameters in
    # its link; a copy of the text under another link), the ski story new
    assert report_of(report, "herald").counts == {"new": 2}
    assert report_of(report, "digest").counts == {"duplicate": 2, "new": 1}
    titles = [t for _, t, _ in site.entries(cfg)]
    assert sorted(titles) == ["Harbor festival draws record crowds",
                              "Ski resorts prepare for an early opening",
                              "Typhoon season ends with fewer storms than forecast"]
    rows = site.rows(cfg, "SELECT o.source, o.key FROM source_entries o JOIN entries e"
                          " ON e.seq = o.entry_seq JOIN versions v ON v.entry_seq = e.seq"
                          " WHERE v.title LIKE 'Typhoon%' ORDER BY o.source, o.key")
    assert rows == [("digest", "guid:tag:digest.example.net,2026:item-5521"),
                    ("digest", "guid:tag:digest.example.net,2026:item-5522"),
                    ("herald", "guid:herald-88412")]
    # the digest changing its copy does not rewrite the herald's entry
    site.serve("/b.xml", body(doc("shared-b.xml").replace(b"eleven named storms.",
                                                          b"eleven storms in all.")))
    site.clock.advance(100)
    report = site.ingest(cfg, force=True)
    assert report_of(report, "digest").counts == {"duplicate": 1, "unchanged": 2}
    publish_dir = _publish(site, cfg)
    atom = (publish_dir / "atom.xml").read_bytes()
    assert atom.count(b"Typhoon season ends") == 1
    assert_every_version_has_its_band_keys(site, cfg)


def assert_every_version_has_its_band_keys(site: Site, cfg: Config) -> None:
    """Held remote rows and revisions write their near-duplicate keys too."""
    bands, _ = bands_for(cfg.dedup.threshold)
    counts = site.rows(cfg, "SELECT v.id, count(b.bucket) FROM versions v"
                            " LEFT JOIN bands b ON b.version_id = v.id GROUP BY v.id")
    assert counts and all(n == bands for _, n in counts), counts


def test_revision_in_place_and_nothing_deleted(site: Site) -> None:
    url = site.serve("/wire.xml", body(doc("rss20.xml")))
    cfg = site.config(source(url, "wire"))
    site.ingest(cfg)
    with site.store(cfg) as store:
        before = {e.title: e for e in store.iter_entries()}
    rice = before["Rice exporters expect a record season"]
    # the rice story is edited (no new date given), the AT&T story leaves the feed
    edited = doc("rss20.xml").replace(b"Shipping starts in January.",
                                      b"Shipping starts in February.")
    start = edited.index(b"<item>", edited.index(b"</item>"))
    edited = edited[:start] + edited[edited.index(b"</item>", start) + 7:]
    site.serve("/wire.xml", body(edited))
    site.clock.advance(3600)
    report = site.ingest(cfg, force=True)
    assert report.counts == {"revised": 1}
    with site.store(cfg) as store:
        after = {e.title: e for e in store.iter_entries()}
    new = after["Rice exporters expect a record season"]
    assert (new.id, new.page, new.published) == (rice.id, rice.page, rice.published)
    assert new.version != rice.version
    assert new.updated == T0 + timedelta(seconds=3600)  # when the change was seen
    assert new.content_html is not None and "February" in new.content_html
    assert "AT&T opens a valley office" in after  # gone from the feed, kept here
    assert_every_version_has_its_band_keys(site, cfg)
    # a later date from the source moves updated there; a date that goes back
    # is a change seen now (updated never goes back); published stays
    for given, expected in (("10:30", T0 + timedelta(minutes=90)),
                            ("09:30", T0 + timedelta(hours=3))):
        dated = edited.replace(b"<pubDate>Thu, 19 Nov 2026 07:45:00 +0000</pubDate>",
                               b"<pubDate>Thu, 19 Nov 2026 07:45:00 +0000</pubDate>"
                               b"<atom:updated>2026-11-27T" + given.encode() +
                               b":00Z</atom:updated>")
        site.serve("/wire.xml", body(dated))
        site.clock.advance(3600)
        site.ingest(cfg, force=True)
        with site.store(cfg) as store:
            final = {e.title: e for e in store.iter_entries()}[
                "Rice exporters expect a record season"]
        assert final.published == rice.published
        assert final.updated == expected


def test_an_undated_entry_keeps_first_seen_apart(site: Site) -> None:
    url = site.serve("/undated.xml", body(doc("undated.xml")))
    cfg = site.config(source(url, "allot", "Gardens"))
    report = site.ingest(cfg)
    assert report.counts == {"new": 2}
    assert "date before 1990 or in the future" in (site.states(cfg)["allot"].note or "")
    with site.store(cfg) as store:
        entries = list(store.iter_entries())
    for e in entries:
        assert e.origin is not None and not e.origin.dated
        assert e.published == e.updated == T0  # first seen, for ordering
    atom = etree.fromstring((_publish(site, cfg) / "gardens" / "atom.xml").read_bytes())
    for entry in atom.iter(f"{A}entry"):
        assert entry.find(f"{A}published") is None  # never invented
        assert entry.findtext(f"{A}updated", "").startswith("2026-11-27T09:00:00")
    rss = etree.fromstring((_publish(site, cfg) / "gardens" / "rss.xml").read_bytes())
    assert rss.find("channel/item/pubDate") is None


def test_atom_output_links_to_the_original_with_our_ids_and_atom_source(site: Site) -> None:
    url = site.serve("/diary.xml", body(doc("atom10.xml")))
    cfg = site.config(source(url, "diary", "Culture"))
    site.ingest(cfg)
    out = _publish(site, cfg)
    root = etree.fromstring((out / "culture" / "atom.xml").read_bytes())
    entries = {e.findtext(f"{A}title"): e for e in root.iter(f"{A}entry")}
    lanterns = entries["Lanterns light the old port"]
    assert lanterns.findtext(f"{A}id", "").startswith("tag:news.example.org,2026-11-27:culture/")
    assert lanterns.find(f"{A}link").get("href") == \
        "https://culture.example.org/blog/2026/11/lanterns"
    assert lanterns.findtext(f"{A}published") == "2026-11-22T08:00:00+00:00"
    src = lanterns.find(f"{A}source")
    assert src is not None
    assert src.findtext(f"{A}id") == "urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6"
    assert src.findtext(f"{A}title") == "Festival Diary"
    assert src.findtext(f"{A}updated") == "2026-11-22T18:30:00+00:00"
    links = {link.get("rel"): link.get("href") for link in src.iter(f"{A}link")}
    assert links == {"self": url, "alternate": "https://culture.example.org/blog/"}
    museum = entries["Museum night draws a crowd"]
    assert museum.find(f"{A}published") is None  # the source gave only updated
    rss = etree.fromstring((out / "culture" / "rss.xml").read_bytes())
    sources = {s.get("url") for s in rss.iter("source")}
    assert sources == {url}


def test_entries_with_equal_dates_publish_distinct_updated(site: Site) -> None:
    same = doc("guids-reused.xml").replace(b"Tue, 24 Nov", b"Mon, 23 Nov").replace(
        b"Wed, 25 Nov", b"Mon, 23 Nov")
    url = site.serve("/same.xml", body(same))
    cfg = site.config(source(url, "same"))
    site.ingest(cfg)
    atom = etree.fromstring((_publish(site, cfg) / "atom.xml").read_bytes())
    updated = [e.findtext(f"{A}updated") for e in atom.iter(f"{A}entry")]
    assert len(updated) == 3 and len(set(updated)) == 3
    assert updated == sorted(updated, reverse=True)


def test_filters_and_the_entrys_own_category(site: Site) -> None:
    url = site.serve("/sci.xml", body(doc("rss10.rdf")))
    wire = site.serve("/wire.xml", body(doc("rss20.xml")))
    cfg = site.config(
        source(url, "sci", "*", 'category_map = { "environment" = "Science / Nature" }')
        + source(wire, "wire", "Business", 'exclude = "(?i)companies"'))
    report = site.ingest(cfg)
    assert report_of(report, "wire").counts == {"new": 1, "filtered": 1}
    with site.store(cfg) as store:
        sections = {e.title: e.section for e in store.iter_entries()}
    assert sections == {
        "Coral survey finds recovery on the northern reef": ("Science", "Nature"),
        "Volcano observatory lowers the alert level": ("Geology",),
        "Rice exporters expect a record season": ("Business",),
    }


def test_include_rule(site: Site) -> None:
    url = site.serve("/sci.xml", body(doc("rss10.rdf")))
    cfg = site.config(source(url, "sci", "Science", 'include = ["Volcano", "^Space$"]'))
    assert site.ingest(cfg).counts == {"new": 1, "filtered": 1}


def test_a_local_feed_file(site: Site) -> None:
    path = site.tmp / "local.xml"
    path.write_bytes(doc("atom03.xml"))
    cfg = site.config('[[sources]]\nurl = "local.xml"\nsection = "Rail"\n')
    assert cfg.sources[0].url == path.as_uri() and cfg.sources[0].name == "local.xml"
    assert site.ingest(cfg).counts == {"new": 2}
    st = site.states(cfg)["local.xml"]
    assert st.last_status is None and st.errors == 0


def _publish(site: Site, cfg: Config) -> Path:
    with site.store(cfg) as store:
        publish(store, cfg)
    return cfg.publish.folder


# ----------------------------------------------------------------------------- configuration


def _parse(tmp_path: Path, text: str) -> Config:
    return parse_config(tomllib.loads(text), source=tmp_path / "config.toml")


def test_source_config_is_read(tmp_path: Path) -> None:
    cfg = _parse(tmp_path, """
[fetch]
per_host = 4
max_bytes = 2048
[[sources]]
url = "https://feeds.example.com/world.xml"
section = "World / Asia"
interval = 900
[[sources]]
url = "file:///srv/feeds/local.xml"
name = "local"
section = "*"
category_map = { "Tech" = "Science / Tech" }
default_section = "Misc"
include = "(?i)robot"
exclude = ["sponsored", "advert"]
""")
    world, local = cfg.sources
    assert (world.name, world.section, world.interval) == (
        "feeds.example.com/world.xml", ("World", "Asia"), 900)
    assert local.section is None and local.category_map == (("tech", ("Science", "Tech")),)
    assert local.section_for(("Tech",)) == ("Science", "Tech")
    assert local.section_for(("Sports",)) == ("Sports",)
    assert local.section_for(()) == ("Misc",)
    assert (local.include, local.exclude) == (("(?i)robot",), ("sponsored", "advert"))
    assert (cfg.fetch.per_host, cfg.fetch.max_bytes) == (4, 2048)


def test_the_shipped_config_has_no_active_source() -> None:
    cfg = load_config(Path(__file__).resolve().parent.parent / "config.toml")
    assert cfg.sources == ()


@pytest.mark.parametrize(("text", "key"), [
    ("[[sources]]\nsection = 'x'\n", "sources[0].url"),
    ("[[sources]]\nurl = 'https://x.example/f'\n", "sources[0].section"),
    ("[[sources]]\nurl = 'ftp://x.example/f'\nsection = 'x'\n", "sources[0].url"),
    ("[[sources]]\nurl = 'https:///f'\nsection = 'x'\n", "sources[0].url"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = 'A//B'\n", "sources[0].section"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = 'x'\ninterval = 5\n",
     "sources[0].interval"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = 'x'\ninclude = '(bad'\n",
     "sources[0].include"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = 'x'\nexclude = ['ok', '']\n",
     "sources[0].exclude[1]"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = 'x'\ncategory_map = {a = 'b'}\n",
     "sources[0].category_map"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = '*'\ncategory_map = {a = 1}\n",
     "sources[0].category_map.a"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = 'x'\nfeed = 1\n", "sources[0].feed"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = 'x'\n"
     "[[sources]]\nurl = 'https://x.example/g'\nsection = 'x'\nname = 'x.example/f'\n",
     "sources[1].name"),
    ("[[sources]]\nurl = 'https://x.example/f'\nsection = 'x'\nname = 'a'\n"
     "[[sources]]\nurl = 'https://x.example/f'\nsection = 'x'\nname = 'b'\n",
     "sources[1].url"),
    ("sources = 'x'\n", "sources"),
    ("[fetch]\nmax_bytes = 10\n", "fetch.max_bytes"),
    ("[fetch]\nread_timeout = 0\n", "fetch.read_timeout"),
    ("[fetch]\nmin_interval = 100\nmax_interval = 50\n", "fetch.min_interval"),
    ("[fetch]\ninterval = 10\n", "fetch.interval"),
    ("[fetch]\nper_host = 'two'\n", "fetch.per_host"),
    ("[fetch]\nretries = 3\n", "fetch.retries"),
])
def test_invalid_sources_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(tmp_path, text)
    assert f"'{key}'" in str(err.value)
    assert err.value.exit_code == 2


# ----------------------------------------------------------------------------- the commands


def test_cli_ingest_only_feeds_sources_and_enable(site: Site) -> None:
    url = site.serve("/wire.xml", body(doc("rss20.xml")))
    site.config(source(url, "wire"))
    (site.tmp / "seeds" / "not-a-seed.txt").write_text("", encoding="utf-8")
    result = feedsvc("ingest", "--only", "feeds", cwd=site.tmp)
    assert "feeds: 1 fetched; entries 2 new" in result.stderr
    assert "ingest:" not in result.stderr  # the seeds folder was left alone
    listing = feedsvc("sources", cwd=site.tmp).stdout
    assert "wire  →  World" in listing and "status 200" in listing
    assert "entries:      2" in listing and "errors:       0 in a row" in listing
    site.serve("/wire.xml", status(410))
    with sqlite3.connect(site.tmp / "data" / "feedsvc.db") as conn:  # due again now
        conn.execute("UPDATE sources SET next_due = NULL")
    result = feedsvc("publish", "--only", "feeds", "--strict", cwd=site.tmp, check=False)
    assert result.returncode == 1 and "1 source(s) failed" in result.stderr
    assert (site.tmp / "data" / "feeds" / "world" / "atom.xml").is_file()
    result = feedsvc("sources", "enable", "wire", "--json-not-an-option", cwd=site.tmp,
                     check=False)
    assert result.returncode == 2  # click's usage error
    assert "wire: enabled" in feedsvc("sources", "enable", "wire", cwd=site.tmp).stdout


def test_many_sources_are_parsed_in_worker_processes(site: Site) -> None:
    """Eight or more due sources: parsing moves to forked workers (only in a
    process without threads, so this runs the real command)."""
    names = ["rss20.xml", "rss10.rdf", "atom03.xml", "atom10.xml", "guids-missing.xml",
             "guids-reused.xml", "shared-a.xml", "undated.xml"]
    sources = ""
    for name in names:
        (site.tmp / name).write_bytes(doc(name))
        sources += f'[[sources]]\nurl = "{name}"\nsection = "Mixed"\n'
    cfg = site.config(sources)
    result = feedsvc("ingest", "--only", "feeds", "-vv", cwd=site.tmp)
    assert re.search(r"parsing 8 feeds in \d+ worker process\(es\)", result.stderr)
    assert "feeds: 8 fetched; entries 20 new" in result.stderr
    with site.store(cfg) as store:
        entries = {e.title: e for e in store.iter_entries()}
    lanterns = entries["Lanterns light the old port"]
    assert lanterns.origin is not None and lanterns.origin.feed_title == "Festival Diary"
    assert lanterns.content_html is not None and "lanterns.jpg" in lanterns.content_html
    # what the workers computed is what the store would compute itself
    with sqlite3.connect(cfg.store.path) as conn:
        stored = conn.execute("SELECT count(DISTINCT content_hash) FROM versions").fetchone()
    assert stored == (20,)


def test_prepared_entries_survive_the_trip_from_a_worker() -> None:
    from feedsvc.config import SourceConfig
    from feedsvc.lsh import band_keys
    from feedsvc.remote.prepare import Prepared, prepare
    from feedsvc.store import Encoded

    src = SourceConfig("x", "http://x.example/", ("News",))
    _, items, _, _ = prepare(src, doc("atom10.xml"), "http://x.example/f", {}, T0, 0.8)
    assert items
    for p in items:
        back = Prepared.unpack(p.pack())
        assert back.item == p.item and back.article == p.article
        assert (back.key, back.item_hash, back.norm_link) == (p.key, p.item_hash, p.norm_link)
        assert back.fingerprint is not None and p.fingerprint is not None
        assert back.fingerprint.content_hash == p.fingerprint.content_hash
        assert (back.fingerprint.signature == p.fingerprint.signature).all()
        # the store's encoding and the LSH keys, computed beside the parsing
        assert back.encoded == p.encoded == Encoded.of(p.article, p.fingerprint.signature)
        expected = band_keys(p.fingerprint.signature.reshape(1, -1), 0.8)[0]
        assert back.band_keys == p.band_keys == expected
    # an entry known unchanged is neither fingerprinted nor encoded, and still travels
    known = {items[0].key: items[0].item_hash}
    _, again, _, _ = prepare(src, doc("atom10.xml"), "http://x.example/f", known, T0, 0.8)
    same = Prepared.unpack(again[0].pack())
    assert (same.fingerprint, same.encoded, same.band_keys) == (None, None, None)
    assert same.item == items[0].item and same.article == items[0].article


def test_sources_listing(site: Site) -> None:
    url = site.serve("/wire.xml", body(doc("rss20.xml")))
    missing = (site.tmp / "missing.xml").as_uri()
    cfg = site.config(source(url, "wire") + source(missing, "x"))
    assert "never (due now)" in render_sources(source_lines(cfg, None), T0)
    site.ingest(cfg)
    with site.store(cfg) as store:
        lines = source_lines(cfg, store)
    (wire, x) = sources_json(lines)
    assert (wire["name"], wire["status"], wire["entries"], wire["errors"]) == ("wire", 200, 2, 0)
    assert (x["errors"], x["entries"]) == (1, 0)
    assert "cannot read" in str(x["last_error"])
    text = render_sources(lines, T0)
    assert "next due:     2026-11-27 11:00:00 UTC, every 7200 s" in text


def test_enable_names_an_unknown_source(site: Site) -> None:
    site.config(source("https://feeds.example.com/x.xml", "x"))
    bad = feedsvc("sources", "enable", "nope", cwd=site.tmp, check=False)
    assert bad.returncode == 2 and "no source named 'nope' (configured: x)" in bad.stderr


# ----------------------------------------------------------------------------- the daemon


def test_one_job_per_source_at_its_own_interval(site: Site) -> None:
    cfg = site.config(source("https://a.example/f", "a", extra="interval = 900")
                      + source("https://b.example/f", "b"))
    jobs = {j.id: j for j in remote_sources(cfg)}
    assert set(jobs) == {feed_job_id("a"), feed_job_id("b")}
    assert (jobs["feed:a"].interval, jobs["feed:b"].interval) == (900, 60)
    assert all(not j.local and j.prepare is not None for j in jobs.values())
    assert remote_sources(cfg) == list(jobs.values())  # equal: a reload keeps schedules


def test_daemon_job_fetches_outside_the_lock_and_defers_on_retry_after(site: Site) -> None:
    url = site.serve("/wire.xml", body(doc("rss20.xml")))
    cfg = site.config(source(url, "wire"))
    (job,) = remote_sources(cfg)
    assert job.prepare is not None
    run = job.prepare(cfg)  # the fetch happens here, with no store open for writing
    assert len(site.http.log) == 1
    with site.store(cfg) as store:
        result = run(store, cfg, lambda _n: None)
    assert result.changed and "new 2" in result.summary
    assert result.next_due is not None
    site.serve("/wire.xml", status(429, **{"Retry-After": "99999"}))
    with sqlite3.connect(cfg.store.path) as conn:
        conn.execute("UPDATE sources SET next_due = NULL")
    run = job.prepare(cfg)
    with site.store(cfg) as store:
        result = run(store, cfg, lambda _n: None)
    assert not result.changed and "HTTP 429" in result.summary
    assert result.next_due is not None and result.next_due > datetime.now(UTC) + timedelta(
        hours=23)


def test_run_once_fetches_and_publishes(site: Site) -> None:
    url = site.serve("/wire.xml", body(doc("rss20.xml")))
    cfg = site.config(source(url, "wire"))
    assert Daemon(cfg).run_once() == 0
    atom = (cfg.publish.folder / "world" / "atom.xml").read_bytes()
    assert b"Rice exporters expect a record season" in atom
    with SQLiteStore.open(cfg.store.path, site=cfg.site) as store:
        assert store.source_states()["wire"].entries == 2
    assert Decision.NEW.value == "new"


def test_what_the_parsing_processes_inherit_is_frozen_for_the_run_only() -> None:
    """The collector leaves the objects that exist when the parsing processes
    are forked alone while they run, and takes them back afterwards."""
    probe = ("import gc\nfrom feedsvc.remote.prepare import POOL_FROM, Parsers as _Parsers\n"
             "with _Parsers(POOL_FROM) as parsers:\n"
             "    print(parsers._pool is not None, gc.get_freeze_count() > 1000)\n"
             "print(gc.get_freeze_count())\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert run.stdout.split() == ["True", "True", "0"]
