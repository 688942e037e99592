"""Feed documents → our model: the five shapes, safety, sanitizing, identity."""

from __future__ import annotations

import contextlib
import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.errors import FetchError
from feedsvc.remote.dates import parse_date
from feedsvc.remote.items import ParsedFeed, RemoteItem
from feedsvc.remote.keys import assign_keys
from feedsvc.remote.links import canonical_id, canonical_url, normalise_link, strip_tracking
from feedsvc.remote.parse import parse_feed
from feedsvc.remote.sanitize import html_to_text, paragraphs, sanitize

FEEDS = Path(__file__).resolve().parent / "feeds"


def read(name: str, url: str | None = None) -> ParsedFeed:
    return parse_feed((FEEDS / name).read_bytes(), url or f"http://feeds.example.com/{name}")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ----------------------------------------------------------------------------- the shapes


def test_rss_091_with_its_doctype() -> None:
    feed = read("rss091.xml")
    assert feed.meta.kind == "rss0.91"
    assert feed.meta.title == "Harbor Gazette"
    assert [i.title for i in feed.items] == [
        "Ferry timetable changes for the winter",
        "Café on Pier 3 wins the chowder contest",  # ISO-8859-1 bytes, character reference
    ]
    assert feed.items[1].link == "http://gazette.example.com/news/chowder.html"
    assert feed.items[0].guid is None and feed.items[0].published is None


def test_rss_091_html_entities_without_a_loaded_dtd() -> None:
    feed = read("rss091-entities.xml")
    assert feed.meta.title == "Mountain Café Notes"
    (item,) = feed.items
    assert item.title == "Crème brûlée returns to the menu"
    assert item.text == ("After a summer break the dessert is back \u2013 with a new caramel.",)


def test_rss_10() -> None:
    feed = read("rss10.rdf")
    assert feed.meta.kind == "rss1.0"
    assert feed.meta.updated == utc(2026, 11, 20, 0, 0)
    coral, volcano = feed.items
    assert coral.guid == "http://science.example.org/2026/11/coral"  # rdf:about
    assert coral.authors == ("Mei Tanaka",)
    assert coral.categories == ("Environment",)
    assert coral.published == utc(2026, 11, 19, 6, 30)
    # content:encoded wins over description
    assert coral.content_html == ("<p>Divers counted <em>twice</em> as many young colonies as "
                                  "in 2024.</p><p>The survey covered 14 sites.</p>")
    assert coral.text == ("Divers counted twice as many young colonies as in 2024.",
                          "The survey covered 14 sites.")
    assert volcano.content_html == "Tremor has been below the threshold for thirty days."


def test_rss_20() -> None:
    feed = read("rss20.xml", "https://wire.example.com/feeds/main.xml")
    assert feed.meta.kind == "rss2.0"
    assert feed.meta.ttl == 120
    assert feed.meta.link == "https://wire.example.com/"
    rice, att = feed.items
    assert rice.guid == "wire-2026-1101"
    assert rice.link == ("https://wire.example.com/markets/rice-record"
                         "?utm_source=rss&utm_medium=feed")
    assert rice.published == utc(2026, 11, 19, 7, 45)
    assert rice.updated is None
    assert rice.authors == ("Ana Lima",)
    assert rice.categories == ("Markets", "Agriculture")
    html = rice.content_html
    # sanitized once: no script, no event handler, no javascript: URL
    assert "script" not in html and "alert" not in html and "onclick" not in html
    assert "javascript:" not in html
    # relative URLs made absolute against the feed's URL
    assert 'href="https://wire.example.com/markets/prices"' in html
    assert 'src="https://wire.example.com/feeds/images/rice.jpg"' in html
    # An RSS title is HTML: "AT&amp;amp;T" in the XML is the text "AT&T".
    assert att.title == "AT&T opens a valley office"
    assert att.authors == ("Ben Okafor",)  # "email (Name)"
    assert att.published == utc(2026, 11, 18, 15, 10)
    assert att.content_html == "The office will employ <b>forty</b> people."


def test_atom_03() -> None:
    feed = read("atom03.xml")
    assert feed.meta.kind == "atom0.3"
    assert feed.meta.title == "River & Rail Journal"  # escaped HTML title, decoded once
    bridge, locks = feed.items
    assert bridge.guid == "tag:journal.example.org,2004:entry-2031"
    assert bridge.published == utc(2026, 11, 21, 7, 0)  # issued
    assert bridge.updated == utc(2026, 11, 21, 8, 30)  # modified
    assert bridge.content_html == "<p>The first freight train crossed at dawn.</p>"
    assert locks.authors == ("Journal Desk",)  # the feed's author covers the entry
    assert "<b>Monday</b>" in locks.content_html
    assert "xmlns" not in locks.content_html


def test_atom_10_xml_base_and_text_constructs() -> None:
    feed = read("atom10.xml", "https://elsewhere.example.com/feed")
    assert feed.meta.kind == "atom1.0"
    assert feed.meta.id == "urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6"
    assert feed.meta.link == "https://culture.example.org/blog/"  # xml:base, not the feed URL
    lanterns, museum, choir = feed.items
    assert lanterns.title == "Lanterns light the old port"  # type="html" → plain text
    assert lanterns.link == "https://culture.example.org/blog/2026/11/lanterns"
    assert lanterns.categories == ("Festivals",)  # the label over the term
    assert lanterns.published == utc(2026, 11, 22, 8, 0)
    # the content element's own xml:base
    assert 'src="https://culture.example.org/photos/lanterns.jpg"' in lanterns.content_html
    assert 'href="https://culture.example.org/blog/2025/11/lanterns"' in lanterns.content_html
    assert museum.published is None and museum.updated == utc(2026, 11, 21, 23, 0)
    assert 'href="https://culture.example.org/blog/tags/museums"' in museum.content_html
    assert "<strong>until midnight</strong>" in museum.content_html
    # type="text" content is text: its "<music>" is shown, not taken for a tag
    assert choir.content_html == ("<p>Rehearsals move to Thursday.</p>"
                                  "<p>Bring your own &lt;music&gt; stand.</p>")
    assert choir.text == ("Rehearsals move to Thursday.", "Bring your own <music> stand.")


# ----------------------------------------------------------------------------- safety


@pytest.mark.parametrize("name", ["billion-laughs.xml", "xxe.xml", "xxe-parameter.xml"])
def test_entity_tricks_are_refused_before_parsing(name: str) -> None:
    with pytest.raises(FetchError, match="refused"):
        read(name)


def test_entity_tricks_are_refused_in_utf16_too() -> None:
    data = (FEEDS / "billion-laughs.xml").read_text("utf-8").replace(
        'encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    with pytest.raises(FetchError, match="refused"):
        parse_feed(data, "http://x.example/")


def test_external_entity_contents_never_leak(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    doc = (FEEDS / "xxe.xml").read_text("utf-8").replace("file:///etc/hostname",
                                                           secret.as_uri())
    with pytest.raises(FetchError) as err:
        parse_feed(doc.encode(), "http://x.example/")
    assert "TOPSECRET" not in str(err.value)


def test_malformed_xml_with_entries_is_read_with_a_warning() -> None:
    feed = read("invalid-recoverable.xml")
    assert [i.title for i in feed.items] == ["Sale on hammers & nails", "New opening hours"]
    assert feed.warnings and "malformed" in feed.warnings[0]


@pytest.mark.parametrize("data", [
    (FEEDS / "not-a-feed.html").read_bytes(),
    b"",
    b"\x00\x01\x02binary",
    b"<rss version='2.0'><channel><title>cut off",
])
def test_not_a_feed_is_an_error(data: bytes) -> None:
    with pytest.raises(FetchError):
        parse_feed(data, "http://x.example/feed")


def test_a_compressed_body_is_not_a_feed() -> None:
    with pytest.raises(FetchError):
        parse_feed(gzip.compress((FEEDS / "rss20.xml").read_bytes()), "http://x.example/")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_feed_or_a_fetch_error(data: bytes) -> None:
    with contextlib.suppress(FetchError):
        parse_feed(data, "http://x.example/feed")


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(title=_TEXT.filter(lambda t: t.strip()))
def test_atom_text_titles_survive_exactly(title: str) -> None:
    from xml.sax.saxutils import escape

    doc = (f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x:1</id>'
           f'<updated>2026-01-01T00:00:00Z</updated><entry><id>urn:x:e</id>'
           f'<title type="text">{escape(title)}</title>'
           f'<updated>2026-01-01T00:00:00Z</updated></entry></feed>')
    (item,) = parse_feed(doc.encode(), "http://x.example/").items
    assert item.title == " ".join(title.split())


# ----------------------------------------------------------------------------- pieces


def test_sanitize_keeps_structure_and_resolves_urls() -> None:
    html = sanitize('<p style="x">a <a href="b?x=1&amp;y=2#f">l</a><iframe src="e"></iframe>'
                    '<img src="//cdn.example/i.png"></p>', "https://site.example/dir/page")
    assert html == ('<p>a <a href="https://site.example/dir/b?x=1&amp;y=2#f" '
                    'rel="noopener noreferrer">l</a><img src="https://cdn.example/i.png"></p>')


def test_sanitize_leaves_text_that_reads_like_an_attribute() -> None:
    assert sanitize('<pre>href="relative"</pre>', "https://s.example/") == \
        '<pre>href="relative"</pre>'


def test_paragraphs_and_text() -> None:
    assert paragraphs("<p>One &amp; <b>two</b></p><ul><li>three</li></ul>four<br>five") == \
        ("One & two", "three", "four", "five")
    assert html_to_text("a <em>b</em>  &lt;c&gt;") == "a b <c>"


@pytest.mark.parametrize(("text", "expected"), [
    ("Thu, 19 Nov 2026 07:45:00 +0000", utc(2026, 11, 19, 7, 45)),
    ("Thu, 19 Nov 2026 07:45:00 GMT", utc(2026, 11, 19, 7, 45)),
    ("19 Nov 2026 16:45:00 +0900", utc(2026, 11, 19, 7, 45)),
    ("2026-11-19T07:45:00Z", utc(2026, 11, 19, 7, 45)),
    ("2026-11-19T16:45:00+09:00", utc(2026, 11, 19, 7, 45)),
    ("2026-11-19T07:45:00.250Z", datetime(2026, 11, 19, 7, 45, 0, 250000, tzinfo=UTC)),
    ("2026-11-19", utc(2026, 11, 19)),
    ("2026-11", utc(2026, 11, 1)),
    ("2026-11-19T07:45:00", utc(2026, 11, 19, 7, 45)),  # no zone: read as UTC
    ("yesterday", None),
    ("", None),
    (None, None),
])
def test_parse_date(text: str | None, expected: datetime | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(("a", "b"), [
    ("https://www.herald.example.com/a/b?utm_source=rss&utm_medium=x",
     "http://herald.example.com/a/b"),
    ("https://x.example/a?b=2&a=1&fbclid=z#frag", "https://x.example/a?a=1&b=2"),
    ("https://X.Example:443/a", "https://x.example/a"),
    ("https://x.example", "https://x.example/"),
])
def test_normalise_link_equal(a: str, b: str) -> None:
    assert normalise_link(a) == normalise_link(b)


def test_normalise_link_keeps_what_identifies() -> None:
    assert normalise_link("https://x.example/a?id=1") != normalise_link("https://x.example/a?id=2")
    assert normalise_link("https://x.example/a") != normalise_link("https://y.example/a")


def test_strip_tracking() -> None:
    assert strip_tracking("https://x.example/a?id=1&utm_source=rss") == "https://x.example/a?id=1"
    assert strip_tracking("https://x.example/a?id=1") == "https://x.example/a?id=1"


@pytest.mark.parametrize(("value", "ok"), [
    ("tag:journal.example.org,2004:feed", True),
    ("urn:uuid:60a76c80-d399-11d9-b93c-0003939e0af6", True),
    ("https://x.example/feed", True),
    ("https://X.example/feed", False),
    ("https://x.example", False),
    ("https://x.example:443/feed", False),
    ("https://x.example/a/../feed", False),
    ("https://x.example/caf%C3%A9", False),
    ("not an id", False),
    ("12345", False),
])
def test_canonical_id(value: str, ok: bool) -> None:
    assert (canonical_id(value) == value) is ok


def test_canonical_url() -> None:
    assert canonical_url("HTTP://Feeds.Example.COM:80") == "http://feeds.example.com/"
    assert canonical_url("https://x.example/a b") == "https://x.example/a%20b"
    assert canonical_id(canonical_url("https://x.example:8443/f.xml?a=1")) is not None


# ----------------------------------------------------------------------------- identity


def _item(guid: str | None, link: str | None, title: str = "t", text: str = "x") -> RemoteItem:
    return RemoteItem(guid=guid, link=link, title=title, authors=(), categories=(),
                      published=None, updated=None, content_html=f"<p>{text}</p>",
                      text=(text,))


def test_keys_by_guid() -> None:
    keyed, mode, notes = assign_keys([_item("a", "http://x/1"), _item("b", "http://x/1")])
    assert [k.key for k in keyed] == ["guid:a", "guid:b"]
    assert mode == "guid" and notes == []


def test_keys_fall_back_to_links_when_guids_are_missing() -> None:
    keyed, mode, notes = assign_keys(read("guids-missing.xml").items)
    assert mode == "link"
    assert "guids missing for 3" in notes[0]
    assert [k.key.split(":", 1)[0] for k in keyed] == ["link", "link", "link", "hash"]


def test_keys_fall_back_when_guids_are_reused() -> None:
    keyed, mode, notes = assign_keys(read("guids-reused.xml").items)
    assert mode == "link"
    assert "reused by 3 of 3" in notes[0]
    assert len({k.key for k in keyed}) == 3


def test_keys_fall_back_to_the_text() -> None:
    items = [_item(None, "http://x/", title=f"t{i}", text=f"body {i}") for i in range(3)]
    keyed, mode, _ = assign_keys(items)
    assert mode == "hash"
    assert len({k.key for k in keyed}) == 3 and all(k.key.startswith("hash:") for k in keyed)


def test_a_shared_guid_identifies_none_of_its_items() -> None:
    items = [_item("a", "http://x/1"), _item("a", "http://x/2"), _item("b", "http://x/3"),
             _item("c", "http://x/4"), _item("d", "http://x/5")]
    keyed, mode, _ = assign_keys(items)
    assert mode == "guid"
    assert [k.key for k in keyed] == ["link://x/1", "link://x/2", "guid:b", "guid:c", "guid:d"]


def test_unidentifiable_and_repeated_items_are_skipped_one_by_one() -> None:
    empty = RemoteItem(None, None, "", (), (), None, None, "", ())
    items = [_item(None, None, "same", "same"), _item(None, None, "same", "same"), empty,
             _item(None, None, "other", "other")]
    keyed, _, notes = assign_keys(items)
    assert len(keyed) == 2
    assert "2 entries skipped" in notes[-1]


_URL_CHARS = st.sampled_from(list("abz09/.-_~%?#;:@!$&'()*+,= \t\x00é/"))


@settings(max_examples=500)
@given(st.sampled_from(["http://a.example/x/y.xml", "https://u:p@a.example:8443/f?x=1#f",
                        "HTTP://A.example/", "http://[::1]:80/a", "file:///tmp/x.xml",
                        "http://a.example/b;p?q", "https://a.example"]),
       st.text(_URL_CHARS, max_size=20).map(lambda tail: "/" + tail))
def test_resolving_a_path_gives_exactly_what_urljoin_gives(base: str, path: str) -> None:
    # The shortcut for plain "/path" links must not change a single resolved URL.
    from urllib.parse import urljoin

    from feedsvc.remote.links import join_url as _join

    try:
        expected: str | None = urljoin(base, path)
    except ValueError:
        expected = None
    assert _join(base, path) == expected


@settings(max_examples=500)
@given(st.sampled_from(["", "Sat, ", "Mon, ", "sat, ", "Sat,"]), st.integers(0, 40),
       st.sampled_from(["Jan", "Feb", "Nov", "Dec", "nov", "Sept"]), st.integers(1890, 2100),
       st.integers(0, 25), st.integers(0, 61), st.integers(0, 61),
       st.sampled_from(["+0000", "-0000", "+0530", "-0800", "+2400", "-2359", "GMT", "EST"]))
def test_the_quick_rfc822_reading_agrees_with_email_utils(
        weekday: str, day: int, month: str, year: int, hour: int, minute: int, second: int,
        zone: str) -> None:
    from email.utils import parsedate_to_datetime

    text = f"{weekday}{day:02d} {month} {year} {hour:02d}:{minute:02d}:{second:02d} {zone}"
    try:
        slow = parsedate_to_datetime(text)
        expected = (slow if slow.tzinfo else slow.replace(tzinfo=UTC)).astimezone(UTC)
    except (TypeError, ValueError, IndexError):
        expected = None
    assert parse_date(text) == expected


@settings(max_examples=1000)
@given(st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "http:/"]),
       st.text(st.sampled_from(list("aZ09.-_w")), max_size=12),
       st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":x"]),
       st.text(st.sampled_from(list("/aZ9.-_~%é ")), max_size=10),
       st.one_of(st.none(), st.text(st.sampled_from(list("ab=&_.~-%+ utm")), max_size=14)),
       st.sampled_from(["", "#", "#frag"]))
def test_normalising_a_plain_link_gives_what_urllib_gives(
        scheme: str, host: str, port: str, path: str, query: str | None, fragment: str) -> None:
    # The shortcut for plain links must give exactly what the urllib path gives.
    from feedsvc.remote.links import _normalise_with_urllib

    url = f"{scheme}{host}{port}{path}" + (f"?{query}" if query is not None else "") + fragment
    assert normalise_link(url) == _normalise_with_urllib(url.strip())
