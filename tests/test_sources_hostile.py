"""Remote sources against hostile or careless feeds, on the loopback server:
link schemes, credentials, external DTDs, dedup of templated and short items,
valid feeds the fallback parser reads."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import feedsvc
from pytest_httpserver import HTTPServer
from test_fetch import http, server  # noqa: F401  (fixtures)
from test_sources import Site, body, source
from werkzeug import Request, Response

from feedsvc.publish import publish

SECRET = "s3cr3t-Pa55"
USER = "reader"


def rss(items: str, ns: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"{ns}><channel>'
            f"<title>Wire</title><link>http://wire.example.com/</link>"
            f"<description>d</description>{items}</channel></rss>").encode()


def item(guid: str, title: str, link: str, text: str, date: str = "") -> str:
    pub = f"<pubDate>{date}</pubDate>" if date else ""
    return (f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
            f"<link>{link}</link><description>{text}</description>{pub}</item>")


@pytest.fixture
def site(tmp_path: Path, http: HTTPServer) -> Site:  # noqa: F811
    return Site(tmp_path, http)


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def publish_all(site: Site, cfg_sources: str) -> Path:
    cfg = site.config(cfg_sources)
    site.ingest(cfg, force=True)
    with site.store(cfg) as store:
        publish(store, cfg)
    return cfg.publish.folder


# ----------------------------------------------------------------------------- link schemes


def test_a_script_link_never_reaches_a_page_or_feed(site: Site) -> None:
    items = (item("g1", "Click me", "javascript:alert(document.cookie)", "Body one.")
             + item("g2", "Data", "data:text/html;base64,PHNjcmlwdD4=", "Body two.")
             + item("g3", "Fine", "http://wire.example.com/fine", "Body three."))
    url = site.serve("/x.xml", body(rss(items)))
    out = publish_all(site, source(url, "wire"))
    everything = b"".join(files_under(out).values()).lower()
    assert b"javascript:" not in everything and b"data:text" not in everything
    assert b"http://wire.example.com/fine" in everything
    # The entry without a link is linked to its own page, everywhere.
    page = next(p for p in out.rglob("*.html") if b"<h1>Click me</h1>" in p.read_bytes())
    canonical = re.search(rb'<link rel="canonical" href="([^"]+)"', page.read_bytes())
    assert canonical is not None
    assert canonical[1].startswith(b"https://news.example.org/articles/")
    assert b"Original article" not in page.read_bytes()
    listing = feedsvc("sources", cwd=site.tmp).stdout
    assert "2 links dropped: only http and https links are published" in listing


def test_the_drop_is_logged_once_per_source(site: Site) -> None:
    items = "".join(item(f"g{i}", f"T{i}", "javascript:void(0)", f"Body {i}.")
                    for i in range(4))
    url = site.serve("/x.xml", body(rss(items)))
    site.config(source(url, "wire"))
    result = feedsvc("ingest", "--only", "feeds", cwd=site.tmp)
    assert result.stderr.count("dropped") == 1, result.stderr


# ----------------------------------------------------------------------------- credentials


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


def _private(data: bytes, seen: list[tuple[str, str] | None]) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        seen.append(_basic(request))
        if _basic(request) != (USER, SECRET):
            return Response("who are you", status=401,
                            headers={"WWW-Authenticate": 'Basic realm="feeds"'})
        return Response(data, headers={"Content-Type": "application/rss+xml"})
    return handle


def test_credentials_fetch_and_are_written_nowhere(site: Site) -> None:
    items = item("g1", "Private news", "/news/1",
                 "&lt;p&gt;Text &lt;img src='/img/1.png'&gt;&lt;/p&gt;", "Fri, 20 Nov 2026 "
                 "08:00:00 +0000")
    seen: list[tuple[str, str] | None] = []
    url = site.serve("/private.xml", _private(rss(items), seen))
    with_secret = url.replace("http://", f"http://{USER}:{SECRET}@")
    site.config(source(with_secret, "private"))
    result = feedsvc("publish", "-v", cwd=site.tmp)
    assert seen == [(USER, SECRET)]
    out = site.tmp / "data" / "feeds"
    written = files_under(out)
    assert any(b"Private news" in data for data in written.values())
    atom = written["world/atom.xml"].decode()
    assert f'href="{url}"' in atom  # the atom:source self link, without credentials
    assert "img/1.png" in atom  # rewritten against the URL without credentials
    listing = feedsvc("sources", cwd=site.tmp).stdout
    as_json = feedsvc("sources", "--json", cwd=site.tmp).stdout
    status = feedsvc("status", "--json", cwd=site.tmp).stdout
    assert f"{USER}:***@" in listing
    assert json.loads(as_json)[0]["url"] == with_secret.replace(SECRET, "***")
    for name, data in written.items():
        assert SECRET.encode() not in data, name
        assert f"{USER}:".encode() not in data, name
    for text in (result.stdout, result.stderr, listing, as_json, status):
        assert SECRET not in text
    assert SECRET.encode() not in (site.tmp / "data" / "feedsvc.db").read_bytes()


def test_a_failing_fetch_with_credentials_logs_no_secret(site: Site) -> None:
    seen: list[tuple[str, str] | None] = []
    url = site.serve("/private.xml", _private(rss(""), seen))
    wrong = url.replace("http://", f"http://{USER}:not-{SECRET}@")
    site.config(source(wrong, "private"))
    result = feedsvc("ingest", "--only", "feeds", cwd=site.tmp)
    assert "HTTP 401" in result.stderr
    assert seen == [(USER, f"not-{SECRET}")]
    listing = feedsvc("sources", cwd=site.tmp).stdout
    for text in (result.stderr, listing):
        assert SECRET not in text


def test_credentials_follow_a_redirect_only_to_the_same_origin(site: Site,
                                                               http: HTTPServer) -> None:  # noqa: F811
    seen: list[tuple[str, str] | None] = []
    url = site.serve("/private.xml", _private(rss(item("g", "In", "/a", "Body.")), seen))
    site.serve("/moved.xml", lambda _r: Response(status=301, headers={"Location": url}))
    elsewhere: list[tuple[str, str] | None] = []
    # "localhost" is the same server under another host name: another origin.
    other = site.serve("/other.xml", _private(rss(""), elsewhere)).replace("127.0.0.1",
                                                                           "localhost")
    site.serve("/away.xml", lambda _r: Response(status=302, headers={"Location": other}))
    moved = http.url_for("/moved.xml").replace("http://", f"http://{USER}:{SECRET}@")
    away = http.url_for("/away.xml").replace("http://", f"http://{USER}:{SECRET}@")
    cfg = site.config(source(moved, "moved") + source(away, "away", "Elsewhere"))
    report = site.ingest(cfg)
    by_name = {r.name: r for r in report.sources}
    assert by_name["moved"].outcome == "fetched"
    assert by_name["away"].outcome == "failed"  # the other origin got no credentials: 401
    assert seen == [(USER, SECRET)] and elsewhere == [None]
    states = site.states(cfg)
    assert states["moved"].current_url == url  # remembered without credentials
    assert all(SECRET not in (s.url + (s.current_url or "")) for s in states.values())


# ----------------------------------------------------------------------------- external DTDs


def test_a_document_using_an_external_dtds_entity_is_refused(site: Site) -> None:
    doc = rss(item("g", "Hello &brand; world", "http://w.example/a", "Body.")).replace(
        b"\n<rss", b'\n<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/rss.dtd">\n<rss')
    url = site.serve("/dtd.xml", body(doc))
    cfg = site.config(source(url, "dtd"))
    report = site.ingest(cfg)
    assert report.sources[0].outcome == "failed"
    assert site.entries(cfg) == []
    state = site.states(cfg)["dtd"]
    assert state.errors == 1 and state.next_due is not None
    assert state.last_error is not None and "&brand;" in state.last_error
    assert "refused: the document uses the entity &brand;" in \
        feedsvc("sources", cwd=site.tmp).stdout


# ----------------------------------------------------------------------------- fallback parsing

USERLAND = ' xmlns="http://backend.userland.com/rss2"'
EMPTY_ATOM = (b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
              b"<title>Quiet</title><id>urn:x:quiet</id><updated>2026-11-20T00:00:00Z</updated>"
              b"</feed>")


@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml"])
@pytest.mark.parametrize("document", ["rss-userland", "rss-userland-items", "atom"])
def test_valid_feeds_without_entries_are_not_errors(site: Site, content_type: str | None,
                                                    document: str) -> None:
    data = {"rss-userland": rss("", USERLAND),
            "rss-userland-items": rss(item("g", "Caf\u00e9", "http://w.example/a", "B."),
                                      USERLAND),
            "atom": EMPTY_ATOM}[document]
    headers = {} if content_type is None else {"Content-Type": content_type}
    url = site.serve("/f.xml", lambda _r: Response(data, headers=headers))
    cfg = site.config(source(url, "f"))
    (report,) = site.ingest(cfg).sources
    assert report.outcome == "fetched", report.message
    state = site.states(cfg)["f"]
    assert (state.errors, state.last_error, state.note) == (0, None, None)
    assert [title for _, title, _ in site.entries(cfg)] == (
        ["Caf\u00e9"] if document.endswith("items") else [])


# ----------------------------------------------------------------------------- dedup

COMMON = [f"Paragraph {word} of the weekly digest says what every issue says about the "
          f"project, its releases and its contributors, at some length." for word in
          ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")]


def digest(n: int) -> str:
    """Issue ``n`` of a templated post: nine paragraphs of ten the same."""
    return "".join(f"&lt;p&gt;{p}&lt;/p&gt;" for p in
                   [f"This is issue {n}: {'alpha beta gamma' if n == 1 else 'delta epsilon'}"
                    f" news of the week, {n * 7} merged changes.", *COMMON])


def test_a_templated_post_with_a_new_guid_is_a_new_entry(site: Site) -> None:
    from feedsvc import dedup
    from feedsvc.remote.sanitize import paragraphs

    alike = dedup.similarity(paragraphs(digest(1).replace("&lt;", "<").replace("&gt;", ">")),
                             paragraphs(digest(2).replace("&lt;", "<").replace("&gt;", ">")))
    assert alike >= 0.85  # a revision by the text alone
    first = item("digest-1", "Weekly digest #1", "http://w.example/digest/1", digest(1),
                 "Mon, 16 Nov 2026 08:00:00 +0000")
    second = item("digest-2", "Weekly digest #2", "http://w.example/digest/2", digest(2),
                  "Mon, 23 Nov 2026 08:00:00 +0000")
    url = site.serve("/digest.xml", body(rss(first)))
    cfg = site.config(source(url, "digest"))
    assert site.ingest(cfg).counts == {"new": 1}
    site.serve("/digest.xml", body(rss(second)))  # issue 1 has left the feed
    site.clock.advance(3600)
    assert site.ingest(cfg, force=True).counts == {"new": 1}
    with site.store(cfg) as store:
        entries = {e.title: e for e in store.iter_entries()}
    one, two = entries["Weekly digest #1"], entries["Weekly digest #2"]
    assert one.id != two.id and one.page != two.page
    assert (one.published.day, two.published.day) == (16, 23)
    with site.store(cfg) as store:
        publish(store, cfg)
    atom = (cfg.publish.folder / "atom.xml").read_text(encoding="utf-8")
    assert "Weekly digest #1" in atom and "Weekly digest #2" in atom


def test_an_item_known_by_its_text_is_still_revised_by_its_text(site: Site) -> None:
    # No guid, no link: the text is all that identifies these items.
    def bare(text: str) -> str:
        return f"<item><title>Notice</title><description>{text}</description></item>"

    url = site.serve("/bare.xml", body(rss(bare(digest(1)))))
    cfg = site.config(source(url, "bare"))
    assert site.ingest(cfg).counts == {"new": 1}
    site.serve("/bare.xml", body(rss(bare(digest(1).replace("alpha beta gamma",
                                                            "alpha beta delta")))))
    site.clock.advance(3600)
    assert site.ingest(cfg, force=True).counts == {"revised": 1}
    assert len(site.entries(cfg)) == 1


LONG = ("&lt;p&gt;" + " ".join(["The council approved the harbour budget after a long "
                                 "debate about ferries, tides and the fish market."] * 4)
        + "&lt;/p&gt;")


def test_short_bodies_across_sources_are_not_the_same_article(site: Site) -> None:
    a_items = (item("a1", "Rust compiler release notes", "http://a.example/1", "Comments")
               + item("a2", "Show: a tiny editor", "http://a.example/2", "Comments")
               + item("a3", "Ask: backups at home", "http://a.example/3", "")
               + item("a4", "Council approves harbour budget", "http://a.example/harbour",
                      LONG))
    b_items = (item("b1", "Kernel maintainers meet", "http://b.example/x", "Comments")
               + item("b2", "Databases in 2026", "http://b.example/y", "")
               + item("b3", "Harbour budget passes", "http://b.example/council", LONG))
    a = site.serve("/a.xml", body(rss(a_items)))
    b = site.serve("/b.xml", body(rss(b_items)))
    cfg = site.config(source(a, "news-a") + source(b, "news-b"))
    report = site.ingest(cfg)
    counts = {r.name: r.counts for r in report.sources}
    assert counts == {"news-a": {"new": 4}, "news-b": {"new": 2, "duplicate": 1}}
    titles = sorted(t for _, t, _ in site.entries(cfg))
    assert titles == sorted(["Rust compiler release notes", "Show: a tiny editor",
                             "Ask: backups at home", "Council approves harbour budget",
                             "Kernel maintainers meet", "Databases in 2026"])
