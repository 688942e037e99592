"""Feed documents built to mislead the parser: link schemes, external DTDs,
markup in titles, Dublin Core items, documents the fallback parser reads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.errors import FetchError
from feedsvc.remote.parse import parse_feed
from feedsvc.remote.sanitize import html_to_text
from feedsvc.urls import is_web_url, masked, split_credentials, web_url, without_credentials

URL = "http://feeds.example.com/feed.xml"


def rss(items: str, channel: str = "", head: str = "", attrs: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>{head}\n<rss version="2.0"{attrs}><channel>'
            f"<title>Wire</title><link>http://wire.example.com/</link>"
            f"<description>d</description>{channel}{items}</channel></rss>").encode()


def item(title: str = "T", link: str = "http://wire.example.com/a", extra: str = "") -> str:
    return (f"<item><title>{title}</title><link>{link}</link><guid>g-{abs(hash(title + link))}"
            f"</guid><description>Body text.</description>{extra}</item>")


# ----------------------------------------------------------------------------- link schemes

HOSTILE_LINKS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java&#9;script:alert(1)",  # a tab: browsers drop it and run the script
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "file:///etc/passwd",
    "mailto:editor@example.com",
]


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_only_http_links_are_kept(link: str) -> None:
    feed = parse_feed(rss(item(link=link) + item("Fine", "/ok")), URL)
    bad, good = feed.items
    assert bad.link is None
    assert good.link == "http://feeds.example.com/ok"
    # One warning for the feed, whatever the number of entries.
    (warning,) = [w for w in feed.warnings if "dropped" in w]
    assert warning.startswith("1 link dropped: only http and https links are published")


def test_many_dropped_links_give_one_warning() -> None:
    items = "".join(item(f"T{i}", "javascript:void(0)") for i in range(5))
    feed = parse_feed(rss(items), URL)
    assert all(i.link is None for i in feed.items)
    assert feed.warnings == ("5 links dropped: only http and https links are published "
                             "(schemes seen: javascript)",)


def test_a_relative_link_under_a_hostile_base_is_dropped() -> None:
    doc = rss(item(link="page"), attrs=' xml:base="javascript:alert(1)//"')
    (entry,) = parse_feed(doc, URL).items
    assert entry.link is None


def test_the_feed_site_link_is_dropped_too() -> None:
    doc = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x:1</id>'
           b'<updated>2026-11-20T00:00:00Z</updated><link href="javascript:alert(1)"/>'
           b'<entry><title>a</title><id>urn:x:a</id><updated>2026-11-20T00:00:00Z</updated>'
           b'<link href="data:text/html,x"/><content>x</content></entry></feed>')
    feed = parse_feed(doc, URL)
    assert feed.meta.link is None
    assert feed.items[0].link is None
    assert feed.warnings == ("2 links dropped: only http and https links are published "
                             "(schemes seen: data, javascript)",)


def test_fallback_parser_drops_them_as_well() -> None:
    # Malformed (an unclosed element): read by feedparser.
    doc = rss(item(link="javascript:alert(1)") + "<item><title>broken</title>")
    feed = parse_feed(doc, URL)
    assert [i.link for i in feed.items if i.title == "T"] == [None]


@pytest.mark.parametrize(("url", "ok"), [
    ("http://a.example/x", True), ("HTTPS://a.example/x", True), ("https:///x", False),
    ("javascript:alert(1)", False), ("java\tscript:alert(1)", False), ("//a.example/x", False),
    ("", False), (None, False), ("http://[::1/", False),
])
def test_web_url(url: str | None, ok: bool) -> None:
    assert is_web_url(url) is ok
    assert (web_url(url) is not None) is ok


@given(st.one_of(st.text(max_size=40), st.builds(
    lambda scheme, rest: scheme + rest,
    st.sampled_from(["http://", "https://", "HTTP://", "javascript:", "http:/", ""]),
    st.text(alphabet=st.sampled_from("ab.:/@[]?#% \t\x00-_~9"), max_size=30))))
def test_web_url_quick_reading_agrees_with_urllib(url: str) -> None:
    from urllib.parse import urlsplit

    cleaned = url.strip("".join(chr(c) for c in range(0x21)))
    cleaned = cleaned.replace("\t", "").replace("\n", "").replace("\r", "")
    try:
        parts = urlsplit(cleaned)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    assert (web_url(url) is not None) is ok


def test_credentials_split_masked_and_stripped() -> None:
    url = "https://ann:s%40cret@feeds.example.com:8443/f.xml?x=1"
    assert split_credentials(url) == ("https://feeds.example.com:8443/f.xml?x=1",
                                      ("ann", "s@cret"))
    assert masked(url) == "https://ann:***@feeds.example.com:8443/f.xml?x=1"
    assert without_credentials(url) == "https://feeds.example.com:8443/f.xml?x=1"
    assert split_credentials("http://h.example/f") == ("http://h.example/f", None)


# ----------------------------------------------------------------------------- external DTDs

EXTERNAL = '\n<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/never-read.dtd">'


def test_an_entity_only_an_external_dtd_declares_is_refused() -> None:
    with pytest.raises(FetchError, match=r"refused: the document uses the entity &brand;"):
        parse_feed(rss(item("Hello &brand; world"), head=EXTERNAL), URL)


def test_such_an_entity_in_an_attribute_is_refused() -> None:
    doc = (b'<?xml version="1.0"?>\n<!DOCTYPE feed PUBLIC "-//X//Y" "http://x.example/y.dtd">'
           b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x:1</id>'
           b'<updated>2026-11-20T00:00:00Z</updated><entry><title>a</title><id>urn:x:a</id>'
           b'<updated>2026-11-20T00:00:00Z</updated><link href="http://x.example/&slug;"/>'
           b"<content>x</content></entry></feed>")
    with pytest.raises(FetchError, match="&slug;"):
        parse_feed(doc, URL)


def test_a_malformed_document_with_such_an_entity_is_refused_too() -> None:
    doc = rss(item("Hello &brand; world") + "<item><title>x</title></itemx>", head=EXTERNAL)
    with pytest.raises(FetchError, match="&brand;"):
        parse_feed(doc, URL)


def test_html_entities_under_an_external_dtd_are_characters() -> None:
    doc = rss(item("Caf&eacute; &amp; cr&egrave;me", extra="<author>x@y (Jos&eacute;)</author>"),
              head=EXTERNAL)
    (entry,) = parse_feed(doc, URL).items
    assert entry.title == "Café & crème"
    assert entry.authors == ("José",)


def test_an_external_dtd_without_entities_is_read() -> None:
    (entry,) = parse_feed(rss(item("Plain"), head=EXTERNAL), URL).items
    assert entry.title == "Plain"


# ----------------------------------------------------------------------------- HTML titles


@pytest.mark.parametrize(("markup", "text"), [
    ("Hello <script>alert('x')</script>world", "Hello world"),
    ("<style>h1{color:red}</style>Styled", "Styled"),
    ("<template><p>t</p></template>Kept", "Kept"),
    ("<noscript><img src=x></noscript>Real", "Real"),
    ("<iframe src=x>fallback <b>x</b></iframe>Shown", "Shown"),
    ("<object>obj</object>After", "After"),
    ("<svg><title>s</title><text>drawn</text></svg>Pic", "Pic"),
    ("<script>never closed", ""),
    ("<!DOCTYPE html>", ""),
    ("<!-- a comment -->", ""),
    ("<?xml version='1.0'?>", ""),
    ("<b>Bold</b> move &amp; more", "Bold move & more"),
    ("a < b", "a < b"),
])
def test_html_flattened_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_an_escaped_script_in_an_rss_title_is_not_title_text() -> None:
    escaped = "Breaking &lt;script&gt;steal()&lt;/script&gt;news"
    (entry,) = parse_feed(rss(item(escaped)), URL).items
    assert entry.title == "Breaking news"


def test_an_atom_html_title_with_a_style_element() -> None:
    doc = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x:1</id>'
           b'<updated>2026-11-20T00:00:00Z</updated><entry><id>urn:x:a</id>'
           b'<title type="html">&lt;style&gt;body{display:none}&lt;/style&gt;Visible</title>'
           b"<updated>2026-11-20T00:00:00Z</updated><content>x</content></entry>"
           b"<entry><id>urn:x:b</id><title type='html'>&lt;!DOCTYPE html&gt;</title>"
           b"<updated>2026-11-20T00:00:00Z</updated><content>Only text.</content></entry>"
           b"</feed>")
    styled, debris = parse_feed(doc, URL).items
    assert styled.title == "Visible"
    assert debris.title == ""  # untitled: named by its first words when stored


def test_content_drops_elements_that_are_not_text() -> None:
    body = ("&lt;p&gt;Lead.&lt;/p&gt;&lt;noscript&gt;&lt;img src='x.png'&gt;&lt;/noscript&gt;"
            "&lt;iframe&gt;&lt;b&gt;frame&lt;/b&gt;&lt;/iframe&gt;")
    doc = rss(f"<item><title>T</title><guid>g</guid><description>{body}</description></item>")
    (entry,) = parse_feed(doc, URL).items
    assert entry.text == ("Lead.",)
    assert "img" not in entry.content_html and "frame" not in entry.content_html


# ----------------------------------------------------------------------------- Dublin Core

DC = ' xmlns:dc="http://purl.org/dc/elements/1.1/"'


def test_dc_title_date_and_creator_in_rss2() -> None:
    doc = rss("<item><dc:title>Only a DC title</dc:title><link>http://w.example/a</link>"
              "<dc:date>2026-11-20T08:00:00Z</dc:date><dc:creator>Ana Ruiz</dc:creator>"
              "<description>Body.</description></item>", attrs=DC)
    (entry,) = parse_feed(doc, URL).items
    assert entry.title == "Only a DC title"
    assert entry.authors == ("Ana Ruiz",)
    assert entry.published is not None and entry.published.isoformat() == \
        "2026-11-20T08:00:00+00:00"


def test_dc_title_in_rss1() -> None:
    doc = (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
           b'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           b'<channel rdf:about="http://w.example/"><dc:title>Channel</dc:title>'
           b"<link>http://w.example/</link><description>d</description></channel>"
           b'<item rdf:about="http://w.example/a"><dc:title>DC item</dc:title>'
           b"<link>http://w.example/a</link><dc:date>2026-11-20</dc:date></item></rdf:RDF>")
    feed = parse_feed(doc, URL)
    assert feed.meta.title == "Channel"
    assert [i.title for i in feed.items] == ["DC item"]


def test_dc_fields_read_alike_by_the_fallback() -> None:
    # The RSS 2.0 namespace of the early spec is not one of the shapes read
    # directly: feedparser reads this document.
    doc = rss("<item><dc:title>Fallback DC</dc:title><link>http://w.example/b</link>"
              "<dc:date>2026-11-20T08:00:00Z</dc:date><dc:creator>Bo Li</dc:creator>"
              "<description>Body.</description></item>",
              attrs=DC + ' xmlns="http://backend.userland.com/rss2"')
    feed = parse_feed(doc, URL)
    assert feed.warnings == ()
    (entry,) = feed.items
    assert (entry.title, entry.authors) == ("Fallback DC", ("Bo Li",))
    assert entry.published is not None and entry.published.isoformat() == \
        "2026-11-20T08:00:00+00:00"


# ----------------------------------------------------------------------------- fallback headers

USERLAND = ' xmlns="http://backend.userland.com/rss2"'


@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml",
                                          "text/html; charset=utf-8", "application/xml"])
def test_a_valid_feed_read_by_the_fallback_is_not_an_error(content_type: str | None) -> None:
    empty = rss("", channel="<language>fr</language><title>Caf\u00e9</title>", attrs=USERLAND)
    feed = parse_feed(empty, URL, content_type)
    assert (feed.items, feed.warnings) == ((), ())
    full = rss(item("Cr\u00e8me"), attrs=USERLAND)
    feed = parse_feed(full, URL, content_type)
    assert feed.warnings == ()
    assert [i.title for i in feed.items] == ["Cr\u00e8me"]  # UTF-8 read as UTF-8


def test_a_malformed_feed_still_warns() -> None:
    feed = parse_feed(rss(item("x") + "<item><title>broken</title>"), URL, "application/xml")
    assert any(w.startswith("malformed feed") for w in feed.warnings)


# ----------------------------------------------------------------------------- the renderer


def test_the_renderer_refuses_what_the_parser_would_have_dropped() -> None:
    """Behind the parse boundary: a stored entry (an older store, another
    path in) with a script link or a source URL with credentials."""
    from test_feeds import ROOT, SECTIONS, SITE, T0, make_entry

    from feedsvc.models import Origin
    from feedsvc.publish import feeds
    from feedsvc.publish.pages import render_article

    origin = Origin(source="s", feed_url="https://ann:s3cret@feeds.example.com/f.xml",
                    feed_id="https://feeds.example.com/f.xml", feed_title="F",
                    feed_link="javascript:alert(2)", feed_updated=T0, original_id=None,
                    dated=True)
    entry = make_entry(1, link="javascript:alert(1)", origin=origin, content_html="<p>x</p>",
                       paragraphs=())
    page_link = "https://news.example.org/articles/2026/03/01/0000000000000001.html"
    assert feeds.entry_link(entry, SITE) == page_link
    feed = feeds.build_feed(ROOT, [entry], SITE, sections=SECTIONS, summary_chars=100)
    atom, rss_doc = feeds.atom_bytes(feed), feeds.rss_bytes(feed)
    page = render_article(entry, ROOT, SITE)
    for out in (atom.decode(), rss_doc.decode(), page):
        assert "javascript:" not in out and "s3cret" not in out
    assert 'href="https://feeds.example.com/f.xml"' in atom.decode()
    assert 'url="https://feeds.example.com/f.xml"' in rss_doc.decode()
    assert f'<link rel="canonical" href="{page_link}">' in page
