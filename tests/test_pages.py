"""HTML pages: autoescaped text, relative links, feed autodiscovery, no outside assets.

The golden pages in tests/golden/feeds/ were checked by eye and with the Nu
HTML Checker (valid HTML5) before they were frozen; ``FEEDSVC_UPDATE_GOLDEN=1``
rewrites them after a deliberate change.
"""

from __future__ import annotations

import html.parser
import posixpath
from typing import Any

import lxml.html
import pytest
from test_feeds import (
    GOLDEN,
    LIFE,
    NATIONAL,
    POLITICS,
    ROOT,
    SITE,
    UPDATE_GOLDEN,
    golden_entries,
    golden_feed,
    make_entry,
)

from feedsvc.models import Entry
from feedsvc.publish import feeds, pages

ARTICLE = golden_entries()[0]  # markup in the title and the body, two authors


def article_html(entry: Entry = ARTICLE) -> str:
    section = {s.path: s for s in (ROOT, NATIONAL, POLITICS, LIFE)}[entry.section]
    return pages.render_article(entry, section, SITE)


def index_html() -> str:
    return pages.render_index(golden_feed(NATIONAL), NATIONAL, [POLITICS], SITE)


class _Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text of <h1> and <p>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: dict[str, list[str]] = {"h1": [], "p": [], "title": []}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.texts:
            self._in = tag
            self.texts[tag].append("")
        elif tag == "br" and self._in:
            self.texts[self._in][-1] += "\n"

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.texts[self._in][-1] += data


def tags_of(page: str) -> _Tags:
    parsed = _Tags()
    parsed.feed(page)
    parsed.close()
    return parsed


def links(page: str, tag: str, **match: str) -> list[dict[str, Any]]:
    return [attrs for name, attrs in tags_of(page).tags
            if name == tag and all(attrs.get(k) == v for k, v in match.items())]


@pytest.mark.parametrize("render", [article_html, index_html])
def test_a_complete_plain_page(render: Any) -> None:
    page = render()
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")
    document = lxml.html.document_fromstring(page)
    assert document.get("lang") == "en"
    assert len(document.findall("head/title")) == 1 and document.find("body/main") is not None
    # Nothing loaded from anywhere: no scripts, no images, no stylesheets, no frames.
    for tag in ("script", "img", "iframe", "object", "embed", "video", "audio"):
        assert not document.findall(f".//{tag}"), tag
    assert not links(page, "link", rel="stylesheet")
    assert page.count("<style>") == 1


def test_article_shows_title_and_body_as_text() -> None:
    parsed = tags_of(article_html())
    assert parsed.texts["h1"] == [ARTICLE.title]
    assert parsed.texts["title"] == [f"{ARTICLE.title} — Example News"]
    assert parsed.texts["p"][1] == "By Hana Sato and Kenji Mori, Staff Writers"
    assert parsed.texts["p"][2:5] == list(ARTICLE.paragraphs)
    # <script> and <b> in the text are text: no such tags were parsed.
    assert {name for name, _ in parsed.tags} >= {"html", "head", "body", "p", "br", "time"}
    assert not {name for name, _ in parsed.tags} & {"script", "b"}


def test_article_dates_are_machine_readable_utc() -> None:
    times = links(article_html(golden_entries()[1]), "time")
    # Stored with +09:00; shown and encoded in UTC, to the second.
    assert [t["datetime"] for t in times] == ["2026-03-01T13:00:00+00:00",
                                              "2026-03-01T14:15:00+00:00"]
    same = make_entry(1, updated=make_entry(1).published)
    assert len(links(article_html(same), "time")) == 1
    # HTML allows at most three digits of a second: none are written.
    precise = make_entry(1, published=make_entry(1).published.replace(microsecond=123456))
    assert links(article_html(precise), "time")[0]["datetime"] == "2026-03-01T10:00:00+00:00"


def test_article_links_are_relative_and_lead_to_its_section() -> None:
    page = article_html()
    folder = posixpath.dirname(ARTICLE.page)
    nav = [posixpath.normpath(posixpath.join(folder, a["href"])) for a in links(page, "a")]
    assert nav[:3] == ["index.html", "national/index.html", "national/politics/index.html"]
    assert links(page, "link", rel="canonical")[0]["href"] == feeds.page_url(SITE, ARTICLE.page)
    atom = links(page, "link", rel="alternate", type="application/atom+xml")
    rss = links(page, "link", rel="alternate", type="application/rss+xml")
    assert [posixpath.normpath(posixpath.join(folder, a[0]["href"])) for a in (atom, rss)] == \
        ["national/politics/atom.xml", "national/politics/rss.xml"]
    assert atom[0]["title"] == "Example News — National / Politics (Atom)"


def test_remote_article_points_to_its_original() -> None:
    remote = golden_entries()[4]
    page = article_html(remote)
    assert links(page, "link", rel="canonical")[0]["href"] == remote.link
    assert links(page, "a", href=remote.link)
    assert "<em>sanitized</em>" in page


def test_index_lists_entries_children_and_feeds() -> None:
    page = index_html()
    feed = golden_feed(NATIONAL)
    parsed = tags_of(page)
    assert parsed.texts["h1"] == ["National"]
    hrefs = [a["href"] for a in links(page, "a")]
    local = [posixpath.normpath(posixpath.join("national", h)) for h in hrefs if "://" not in h]
    for item in feed.items:
        if item.link.startswith(SITE.base_url):
            assert item.link.removeprefix(SITE.base_url) in local
        else:
            assert item.link in hrefs  # a remote original
    assert "national/politics/index.html" in local  # the child section
    assert [a["href"] for a in links(page, "link", rel="alternate")] == \
        ["../national/atom.xml", "../national/rss.xml"]
    titles = [t for t in parsed.texts["p"] if t]
    assert feed.items[0].summary in titles
    assert links(page, "link", rel="canonical")[0]["href"] == \
        "https://news.example.org/national/index.html"


def test_root_index_has_the_site_title_and_no_parent() -> None:
    page = pages.render_index(golden_feed(ROOT), ROOT, [NATIONAL], SITE)
    assert tags_of(page).texts["h1"] == ["Example News"]
    assert links(page, "link", rel="alternate", type="application/atom+xml")[0]["href"] == \
        "atom.xml"
    assert not any(a["href"].startswith("../") for a in links(page, "a"))


@pytest.mark.parametrize(("name", "render"),
                         [("article.html", article_html), ("index.html", index_html)])
def test_golden(name: str, render: Any) -> None:
    data = render().encode("utf-8")
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs from the golden file; " \
        "if the change is intended, rerun with FEEDSVC_UPDATE_GOLDEN=1 and review the diff"
