"""Entries → Atom and RSS documents: the rules of feeds.md, checked structurally.

Readers must show exactly what was written: every title, author, id, link and
date goes through lxml (structure) and feedparser (what a reader gets back).
The golden pair in tests/golden/feeds/ was checked by eye and with the W3C
Feed Validation Service (zero errors, zero warnings) before it was frozen;
``FEEDSVC_UPDATE_GOLDEN=1`` rewrites it after a deliberate change.
"""

from __future__ import annotations

import html
import os
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from feedsvc.config import SiteConfig
from feedsvc.models import Entry, Feed, Section, SectionPath
from feedsvc.publish import feeds

GOLDEN = Path(__file__).resolve().parent / "golden" / "feeds"
UPDATE_GOLDEN = os.environ.get("FEEDSVC_UPDATE_GOLDEN") == "1"

SITE = SiteConfig(title="Example News", base_url="https://news.example.org/",
                  author="Example News Desk", description="Stories from the Example News desk")
A = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
JST = timezone(timedelta(hours=9))
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

ROOT = Section((), "", "tag:news.example.org,2026-03-01:feeds")
NATIONAL = Section(("National",), "national", "tag:news.example.org,2026-03-01:feeds/national")
POLITICS = Section(("National", "Politics"), "national/politics",
                   "tag:news.example.org,2026-03-01:feeds/national/politics")
LIFE = Section(("Life", "Food & Drink"), "life/food-drink",
               "tag:news.example.org,2026-03-01:feeds/life/food-drink")
SECTIONS: dict[SectionPath, Section] = {s.path: s for s in (ROOT, NATIONAL, POLITICS, LIFE)}


def make_entry(n: int, **fields: Any) -> Entry:
    """An entry as the store would hand it out; ``n`` orders the dates."""
    values: dict[str, Any] = {
        "id": f"tag:news.example.org,2026-03-01:national/politics/{n:016x}",
        "seq": n, "version": 100 + n, "section": ("National", "Politics"),
        "title": f"Story number {n}", "authors": ("Hana Sato",), "credit": "Staff Writer",
        "paragraphs": (f"First paragraph of story {n}.", f"Second paragraph of story {n}."),
        "published": T0 + timedelta(hours=n), "updated": T0 + timedelta(hours=n, minutes=30),
        "page": f"articles/2026/03/01/{n:016x}.html",
    }
    values.update(fields)
    return Entry(**values)


def golden_entries() -> list[Entry]:
    """The golden set, newest first (as the store's feed_entries returns it)."""
    return [
        make_entry(
            6, title="AT&amp;T and NTT: Q&A on \"5G\" <b>prices</b>, it's 'fair'",
            authors=("Hana Sato", "Kenji Mori"), credit="Staff Writers",
            paragraphs=("Regulators published a Q&A for AT&amp;T customers on Tuesday.",
                        "A page quoted <script>alert(\"x\")</script> in its comments;\n"
                        "the text <b>bold</b> stays text.",
                        "Prices < 3,000 yen and > 1,000 yen are covered.")),
        make_entry(
            5, title="東京で桜が満開に 🌸 「春の訪れ」", section=("National",),
            id="tag:news.example.org,2026-03-01:national/0000000000000005",
            authors=("佐藤 花子",), credit=None,
            published=datetime(2026, 3, 1, 22, 0, tzinfo=JST),
            updated=datetime(2026, 3, 1, 23, 15, tzinfo=JST),
            paragraphs=("気象庁は火曜日、東京の桜が満開になったと発表した。" * 12,)),
        make_entry(
            4, title="Ramen 🍜 at home: 5 tips from a chef's kitchen",
            section=("Life", "Food & Drink"),
            id="tag:news.example.org,2026-03-01:life/food-drink/0000000000000004",
            authors=(), credit="Kyodo",
            paragraphs=("Start the broth the day before, she said, and keep the noodles firm "
                        "while the soup simmers slowly for many hours on a low flame, "
                        "skimming the fat from time to time so that it stays clear and "
                        "light, then season it at the very end with salt, soy sauce and a "
                        "little mirin, tasting as you go so that nothing is overdone.",)),
        make_entry(3, title="Wire story without a byline", authors=(), credit=None),
        make_entry(
            2, title="A story first published elsewhere",
            link="https://partner.example.com/story?id=2&lang=en",
            content_html="<p>Already <em>sanitized</em> HTML &amp; more.</p>", paragraphs=()),
    ]


def golden_feed(section: Section = ROOT, entries: list[Entry] | None = None) -> Feed:
    return feeds.build_feed(section, golden_entries() if entries is None else entries, SITE,
                            sections=SECTIONS, summary_chars=120)


def parse(data: bytes) -> Any:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def assert_plausible(moment: datetime) -> None:
    """The W3C validator's rule: an offset, and between 1990 and now + 1 day."""
    assert moment.tzinfo is not None and moment.utcoffset() is not None
    assert datetime(1990, 1, 1, tzinfo=UTC) <= moment <= datetime.now(UTC) + timedelta(days=1)


def rfc3339(text: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text), text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert_plausible(moment)
    return moment


def rfc822(text: str) -> datetime:
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", text)
    moment = parsedate_to_datetime(text)
    assert_plausible(moment)
    return moment


def seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def test_entries_of_one_second_keep_distinct_atom_dates() -> None:
    """The validator warns about two entries with the same ``updated``."""
    base = datetime(2026, 3, 1, 9, 0, 0, 250_000, tzinfo=UTC)
    entries = [make_entry(n, published=base, updated=base + timedelta(microseconds=n))
               for n in (3, 2, 1)]
    root = parse(feeds.atom_bytes(golden_feed(entries=entries)))
    updated = [e.findtext(A + "updated") for e in root.findall(A + "entry")]
    assert updated == ["2026-03-01T09:00:00.250003+00:00", "2026-03-01T09:00:00.250002+00:00",
                       "2026-03-01T09:00:00.250001+00:00"]
    assert root.findtext(A + "updated") == updated[0]
    channel = parse(feeds.rss_bytes(golden_feed(entries=entries))).find("channel")
    assert channel.findtext("lastBuildDate") == "Sun, 01 Mar 2026 09:00:00 +0000"


# ----------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("authors", "credit", "expected"),
    [
        (("Alice Smith",), None, "By Alice Smith"),
        (("Alice Smith", "Bob Jones"), "Staff Writer",
         "By Alice Smith and Bob Jones, Staff Writer"),
        (("A", "B", "C"), None, "By A, B and C"),
        ((), "Kyodo", "Kyodo"),
        ((), None, None),
    ],
)
def test_byline(authors: tuple[str, ...], credit: str | None, expected: str | None) -> None:
    assert feeds.byline(authors, credit) == expected


def test_content_is_escaped_paragraphs_under_the_byline() -> None:
    entry = make_entry(1, authors=("Alice Smith", "Bob Jones"), credit="Staff Writer",
                       paragraphs=("AT&amp;T <script>alert(1)</script>", "one\ntwo\r\nthree"))
    assert feeds.content_html(entry) == (
        '<p class="byline">By Alice Smith and Bob Jones, Staff Writer</p>\n'
        "<p>AT&amp;amp;T &lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
        "<p>one<br>two<br>three</p>"
    )


def test_a_credit_alone_is_the_byline_and_no_byline_means_none() -> None:
    assert feeds.content_html(make_entry(1, authors=(), credit="Kyodo", paragraphs=("x",))) \
        == '<p class="byline">Kyodo</p>\n<p>x</p>'
    assert feeds.content_html(make_entry(1, authors=(), credit=None, paragraphs=("x",))) \
        == "<p>x</p>"


def test_remote_content_is_used_as_given_and_links_to_the_original() -> None:
    entry = make_entry(1, link="https://elsewhere.example/a?b=1&c=2", paragraphs=(),
                       content_html="<p>Sanitized <em>already</em> &amp; kept.</p>")
    assert feeds.content_html(entry).endswith("<p>Sanitized <em>already</em> &amp; kept.</p>")
    assert feeds.entry_link(entry, SITE) == "https://elsewhere.example/a?b=1&c=2"
    assert feeds.summary_text(entry, 300) == "Sanitized already & kept."
    assert feeds.entry_link(make_entry(1), SITE) == \
        "https://news.example.org/articles/2026/03/01/0000000000000001.html"


@pytest.mark.parametrize(
    ("paragraphs", "limit", "expected"),
    [
        (("Short one.", "Short two."), 300, "Short one. Short two."),
        (("Fits.", "This second paragraph does not fit."), 20, "Fits."),
        (("  spaced \n\t out  ", "x"), 300, "spaced out x"),
        (("The quick brown fox jumps over the lazy dog",), 20, "The quick brown fox…"),
        (("The quick brown fox, jumps",), 21, "The quick brown fox…"),
        (("Supercalifragilisticexpialidocious word",), 10, "Supercali…"),
        (("東京の桜が満開になったと発表した。",), 8, "東京の桜が満開…"),
        ((), 300, "Story number 1"),
    ],
)
def test_summary(paragraphs: tuple[str, ...], limit: int, expected: str) -> None:
    assert feeds.summary_text(make_entry(1, paragraphs=paragraphs), limit) == expected


@given(st.lists(st.text(min_size=1, max_size=200), min_size=1, max_size=5),
       st.integers(min_value=40, max_value=400))
def test_summary_is_a_bounded_prefix_of_the_text(paragraphs: list[str], limit: int) -> None:
    entry = make_entry(1, paragraphs=tuple(paragraphs))
    text = " ".join(" ".join(p.split()) for p in paragraphs if p.split())
    summary = feeds.summary_text(entry, limit)
    if not text:
        assert summary == entry.title
        return
    assert len(summary) <= limit
    assert text.startswith(summary.removesuffix("…").rstrip(" ,;:-\u2013\u2014"))
    assert summary.endswith("…") or text.startswith(summary)


# ----------------------------------------------------------------------------- model


def test_feed_is_built_from_its_entries_never_from_now() -> None:
    entries = golden_entries()
    feed = golden_feed(POLITICS, entries)
    assert feed.id == POLITICS.feed_id
    assert feed.title == "Example News — National / Politics"
    assert feed.atom_url == "https://news.example.org/national/politics/atom.xml"
    assert feed.rss_url == "https://news.example.org/national/politics/rss.xml"
    assert feed.html_url == "https://news.example.org/national/politics/index.html"
    assert feed.updated == max(e.updated for e in entries)
    assert [i.id for i in feed.items] == [e.id for e in entries]
    root = golden_feed(ROOT, entries)
    assert (root.title, root.atom_url) == ("Example News", "https://news.example.org/atom.xml")
    with pytest.raises(ValueError, match="no entries"):
        golden_feed(ROOT, [])


def test_categories_name_each_entry_s_own_section() -> None:
    items = golden_feed().items
    assert [(i.category_term, i.category_label) for i in items] == [
        ("national/politics", "National / Politics"), ("national", "National"),
        ("life/food-drink", "Life / Food & Drink"), ("national/politics", "National / Politics"),
        ("national/politics", "National / Politics")]
    root_entry = feeds.feed_item(make_entry(1, section=()), SITE, category=None, summary_chars=99)
    assert (root_entry.category_term, root_entry.category_label) == ("", "")


def test_naive_dates_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        golden_feed(ROOT, [make_entry(1, published=datetime(2026, 3, 1, 9, 0))])


# ----------------------------------------------------------------------------- Atom


def test_atom_document() -> None:
    feed = golden_feed()
    data = feeds.atom_bytes(feed)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n")
    assert b"CDATA" not in data
    root = parse(data)
    assert root.tag == A + "feed"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    for name in ("id", "title", "updated", "author", "generator", "subtitle"):
        assert len(root.findall(A + name)) == 1, name
    assert root.findtext(A + "id") == ROOT.feed_id
    assert root.find(A + "title").get("type") == "text"
    assert rfc3339(root.findtext(A + "updated")) == feed.updated
    assert root.findtext(f"{A}author/{A}name") == "Example News Desk"
    links = {(link.get("rel"), link.get("type")): link.get("href")
             for link in root.findall(A + "link")}
    assert links == {("self", "application/atom+xml"): "https://news.example.org/atom.xml",
                     ("alternate", "text/html"): "https://news.example.org/index.html"}
    entries = root.findall(A + "entry")
    assert len(entries) == len(feed.items)
    for element, item in zip(entries, feed.items, strict=True):
        assert element.findtext(A + "id") == item.id
        assert rfc3339(element.findtext(A + "updated")) == item.updated
        assert rfc3339(element.findtext(A + "published")) == item.published
        alternates = element.findall(A + "link")
        assert len(alternates) == 1 and alternates[0].get("rel") == "alternate"
        assert alternates[0].get("href") == item.link
        assert [a.findtext(A + "name") for a in element.findall(A + "author")] \
            == list(item.authors)
        assert not element.findall(f"{A}author/{A}email")
        content = element.find(A + "content")
        assert content.get("type") == "html" and content.text == item.content_html
        summary = element.find(A + "summary")
        shown = html.unescape(summary.text) if summary.get("type") == "html" else summary.text
        assert shown == item.summary
        categories = [(c.get("term"), c.get("label"), c.get("scheme"))
                      for c in element.findall(A + "category")]
        assert categories == [(item.category_term, item.category_label,
                               "https://news.example.org/")]
    # Entries newest first; an entry without a byline has no author of its own.
    assert [rfc3339(e.findtext(A + "updated")) for e in entries] == \
        sorted((i.updated for i in feed.items), reverse=True)
    assert entries[3].find(A + "author") is None


def test_atom_local_links_are_html_and_remote_ones_carry_no_guess() -> None:
    entries = parse(feeds.atom_bytes(golden_feed())).findall(A + "entry")
    assert entries[0].find(A + "link").get("type") == "text/html"
    assert entries[4].find(A + "link").get("type") is None


def test_atom_titles_are_text_unless_they_hold_markup() -> None:
    root = parse(feeds.atom_bytes(golden_feed()))
    titles = [(t.get("type"), t.text) for t in root.iterfind(f"{A}entry/{A}title")]
    # The first title holds an HTML end tag: sent as HTML that shows the same text.
    assert titles[0] == ("html", html.escape(golden_entries()[0].title, quote=False))
    assert all(kind == "text" for kind, _ in titles[1:])
    atom_title = parse(feeds.atom_bytes(golden_feed(entries=[make_entry(1, title="AT&amp;T")])))
    assert atom_title.find(f"{A}entry/{A}title").text == "AT&amp;T"
    assert atom_title.find(f"{A}entry/{A}title").get("type") == "text"


def test_ampersand_and_less_than_are_hex_character_references() -> None:
    """The RSS profile's advice; the validator then trusts '&amp;' in text as literal."""
    data = feeds.atom_bytes(golden_feed(entries=[make_entry(1, title="AT&amp;T x < y")]))
    assert b"<title type=\"text\">AT&#x26;amp;T x &#x3C; y</title>" in data
    assert b"&amp;" not in data and b"&lt;" not in data


# ----------------------------------------------------------------------------- RSS


def test_rss_document() -> None:
    feed = golden_feed(POLITICS)
    data = feeds.rss_bytes(feed)
    assert b"CDATA" not in data
    root = parse(data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert root.nsmap == {"atom": "http://www.w3.org/2005/Atom",
                          "dc": "http://purl.org/dc/elements/1.1/",
                          "content": "http://purl.org/rss/1.0/modules/content/"}
    channel = root.find("channel")
    assert channel.findtext("title") == "Example News — National / Politics"
    assert channel.findtext("link") == feed.html_url
    assert channel.findtext("description") == feed.subtitle
    assert channel.findtext("language") == "en"
    assert channel.findtext("generator") == "feedsvc"
    assert channel.findtext("docs") == "https://www.rssboard.org/rss-specification"
    assert rfc822(channel.findtext("lastBuildDate")) == seconds(feed.updated)
    selves = channel.findall(A + "link")
    assert [(s.get("rel"), s.get("type"), s.get("href")) for s in selves] == \
        [("self", "application/rss+xml", feed.rss_url)]
    items = channel.findall("item")
    assert len(items) == len(feed.items)
    for element, item in zip(items, feed.items, strict=True):
        guid = element.find("guid")
        assert (guid.text, guid.get("isPermaLink")) == (item.id, "false")
        assert element.findtext("link") == item.link
        assert rfc822(element.findtext("pubDate")) == seconds(item.published)
        assert [c.text for c in element.findall("category")] == [item.category_label]
        assert [c.text for c in element.findall(DC + "creator")] == list(item.authors)
        assert html.unescape(element.findtext("description")) == item.summary
        assert element.findtext(CONTENT + "encoded") == item.content_html
        # RSS <author> must be an e-mail address; dc:date would double pubDate.
        assert element.find("author") is None and element.find(DC + "date") is None


# ----------------------------------------------------------------------------- readers


TITLES = [
    "AT&amp;T", "Q&A at M&A", "x < y > z", "He said \"no\" & 'yes'", "Emoji 🎉🍜",
    "日本語のタイトル「春」", "<b>bold</b> claim", "<script>alert(1)</script>",
    "a &#38; b", "&lt;p&gt; stays", "Tom &amp Jerry", "&copy 2026",
]
AUTHORS = ("Tom & Jerry", "Ann <O'Neil>", "佐藤 花子")


def _shown(detail: Any) -> str:
    """What a reader displays: HTML is rendered, text is shown as it is."""
    return html.unescape(detail.value) if detail.type == "text/html" else detail.value


@pytest.mark.parametrize("kind", ["atom", "rss"])
@pytest.mark.parametrize("title", TITLES)
def test_feedparser_gets_back_what_was_stored(kind: str, title: str) -> None:
    stored = make_entry(7, title=title, authors=AUTHORS,
                        published=datetime(2026, 3, 1, 22, 5, 9, 123456, tzinfo=JST))
    feed = golden_feed(POLITICS, [stored])
    data = feeds.atom_bytes(feed) if kind == "atom" else feeds.rss_bytes(feed)
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    (entry,) = parsed.entries
    assert _shown(entry.title_detail) == title
    assert [a["name"] for a in entry.authors] == list(AUTHORS)
    assert entry.id == stored.id
    assert entry.link == feeds.page_url(SITE, stored.page)
    assert time.struct_time(entry.published_parsed)[:6] == \
        seconds(stored.published).timetuple()[:6]
    assert _shown(parsed.feed.title_detail) == feed.title


def test_feedparser_reads_the_golden_feeds_whole() -> None:
    feed = golden_feed()
    for data in (feeds.atom_bytes(feed), feeds.rss_bytes(feed)):
        parsed = feedparser.parse(data)
        assert not parsed.bozo
        assert [e.id for e in parsed.entries] == [i.id for i in feed.items]
        assert [e.link for e in parsed.entries] == [i.link for i in feed.items]


# ----------------------------------------------------------------------------- golden


def test_output_is_deterministic() -> None:
    assert feeds.atom_bytes(golden_feed()) == feeds.atom_bytes(golden_feed())
    assert feeds.rss_bytes(golden_feed()) == feeds.rss_bytes(golden_feed())


@pytest.mark.parametrize(("name", "serialise"),
                         [("atom.xml", feeds.atom_bytes), ("rss.xml", feeds.rss_bytes)])
def test_golden(name: str, serialise: Any) -> None:
    data = serialise(golden_feed())
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs from the golden file; " \
        "if the change is intended, rerun with FEEDSVC_UPDATE_GOLDEN=1 and review the diff"
