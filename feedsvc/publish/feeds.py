"""Stored entries → :class:`Feed` (pure), and a Feed → Atom or RSS bytes.

Text is stored exactly as written and escaped once per layer on the way
out: plain text → HTML (``html.escape``) → XML (lxml).  Nothing is ever
pre-escaped or wrapped in CDATA, so a title written ``AT&amp;T`` shows as
``AT&amp;T`` in a reader that follows the formats.

Plain text that looks like markup is the one case where readers (and the
W3C validator) guess wrong: see :func:`text_construct` and :func:`rss_text`
for how such a title still shows exactly as written.  ``&`` and ``<`` are
written as hexadecimal character references, as the RSS Advisory Board
profile recommends for plain text.

The documents are built with feedgen and then corrected with lxml where
feedgen cannot express what RFC 4287 / the RSS profile want:

* feedgen drops ``rel``/``type`` of entry links (its issue #135): the one
  alternate link of each entry gets them back here;
* feedgen never writes ``type="text"`` on titles: added so that no reader
  guesses HTML;
* feedgen defaults ``updated``/``lastBuildDate`` to now(): both are always
  set from the newest entry, so the bytes depend on the entries only;
* feedgen copies the Atom self link (and its Atom media type) into RSS, and
  the RSS ``<link>`` is the last link added: RSS is built by a second
  generator with its own links.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import lxml.html  # type: ignore[import-untyped]
from feedgen.feed import FeedGenerator
from lxml import etree

from .. import __version__
from ..config import SiteConfig
from ..models import Entry, Feed, FeedItem, Origin, Section, SectionPath, section_label
from ..urls import is_web_url, without_credentials

GENERATOR = "feedsvc"
RSS_DOCS = "https://www.rssboard.org/rss-specification"
ATOM_TYPE = "application/atom+xml"
RSS_TYPE = "application/rss+xml"
HTML_TYPE = "text/html"

ATOM_NS = "http://www.w3.org/2005/Atom"
_A = "{" + ATOM_NS + "}"

# Feeds are parsed back only to be corrected: no network, no entities.  The
# document is our own, just serialised by feedgen, so libxml2's size limits
# (10 MB per text node) guard against nothing: an article the ingest limits
# accept (16 MiB of "&", five times as long escaped) must publish.  huge_tree
# is for this parser only; inputs are never read with it.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=True)


# ----------------------------------------------------------------------------- URLs


@dataclass(frozen=True, slots=True)
class FeedUrls:
    """Where a section's documents are served."""

    html: str
    atom: str
    rss: str


def section_dir_url(site: SiteConfig, slug_path: str) -> str:
    """The URL of a section's folder, ending in ``/`` (the root: base_url)."""
    return site.base_url + (quote(slug_path) + "/" if slug_path else "")


def feed_urls(site: SiteConfig, slug_path: str) -> FeedUrls:
    folder = section_dir_url(site, slug_path)
    return FeedUrls(html=folder + "index.html", atom=folder + "atom.xml", rss=folder + "rss.xml")


def page_url(site: SiteConfig, page: str) -> str:
    """The absolute URL of an entry's page (``Entry.page`` is relative to OUT)."""
    return site.base_url + quote(page)


def entry_link(entry: Entry, site: SiteConfig) -> str:
    """A remote entry links to its original; every other one to its own page
    (so does a remote entry whose link is not http(s): never an href to a script)."""
    return entry.link if entry.link and is_web_url(entry.link) else page_url(site, entry.page)


def site_root(feed: Feed) -> str:
    """base_url, recovered from a feed's self link (see :func:`feed_urls`)."""
    folder = feed.atom_url.removesuffix("atom.xml")
    if feed.slug_path:
        folder = folder.removesuffix(quote(feed.slug_path) + "/")
    return folder


# ----------------------------------------------------------------------------- text


def byline(authors: Sequence[str], credit: str | None) -> str | None:
    """``By Alice Smith and Bob Jones, Staff Writer``; the credit alone if no names."""
    if len(authors) > 1:
        names = ", ".join(authors[:-1]) + " and " + authors[-1]
    else:
        names = authors[0] if authors else ""
    parts = [f"By {names}" if names else "", credit or ""]
    text = ", ".join(p for p in parts if p)
    return text or None


def _paragraph_html(text: str) -> str:
    escaped = html.escape(text, quote=False)
    if "\n" in escaped or "\r" in escaped:
        # A single newline inside a paragraph is a line break the writer meant.
        lines = escaped.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        escaped = "<br>".join(lines)
    return f"<p>{escaped}</p>"


def content_html(entry: Entry) -> str:
    """The full body as HTML: the byline on top, then the paragraphs.

    A remote entry's ``content_html`` is already sanitized HTML and is used
    as it is instead of the paragraphs.
    """
    parts: list[str] = []
    line = byline(entry.authors, entry.credit)
    if line:
        parts.append(f'<p class="byline">{html.escape(line, quote=False)}</p>')
    if entry.content_html is not None:
        parts.append(entry.content_html)
    else:
        parts.extend(_paragraph_html(p) for p in entry.paragraphs)
    return "\n".join(parts)


_ELLIPSIS = "…"
# Punctuation that reads badly right before the ellipsis: space, comma, dashes.
_TRAILING = " ,;:-\u2013\u2014"


def _body_text(entry: Entry) -> Iterator[str]:
    """The body's paragraphs as plain text, whitespace collapsed, empty ones skipped."""
    if entry.paragraphs or not entry.content_html:
        texts: Iterable[str] = entry.paragraphs
    else:
        fragment = lxml.html.fragment_fromstring(entry.content_html, create_parent="div")
        texts = [fragment.text_content()]
    for text in texts:
        words = text.split()
        if words:
            yield " ".join(words)


def summary_text(entry: Entry, limit: int) -> str:
    """Plain text: the leading paragraphs that fit in ``limit`` characters.

    Whole paragraphs are kept while they fit; a first paragraph longer than
    the limit is cut at a word boundary and ends with an ellipsis (text
    without spaces, e.g. Japanese, is cut at the limit).  An entry without
    body text is summarised by its title.
    """
    kept = ""
    for text in _body_text(entry):
        joined = f"{kept} {text}" if kept else text
        if len(joined) > limit:
            return kept or _cut(text, limit)
        kept = joined
    return kept or entry.title


def _cut(text: str, limit: int) -> str:
    cut = text[: limit - len(_ELLIPSIS)]
    if not text[len(cut)].isspace():
        head, space, _ = cut.rpartition(" ")
        if space and head:
            cut = head
    return cut.rstrip(_TRAILING) + _ELLIPSIS


_END_TAG = re.compile(r"</[A-Za-z][A-Za-z0-9]*\s*>")
_REFERENCE = re.compile(r"&#?\w+;")


def text_construct(text: str) -> tuple[str, str]:
    """Atom ``(type, value)`` for a plain-text title or summary.

    Text that contains an HTML end tag is flagged by the W3C validator as
    undeclared markup: it is sent as ``type="html"``, escaped so that it
    displays as the original text.  Everything else is ``type="text"``.
    """
    if _END_TAG.search(text):
        return "html", html.escape(text, quote=False)
    return "text", text


def rss_text(text: str) -> str:
    """An RSS title: plain text unless readers would take it for HTML.

    RSS has no type attribute and readers guess: text holding an end tag or
    an entity reference (a title about ``AT&amp;T``) is read as HTML, so it
    is sent HTML-escaped and then shows exactly as written.
    """
    if _END_TAG.search(text) or _REFERENCE.search(text):
        return html.escape(text, quote=False)
    return text


# ----------------------------------------------------------------------------- model


def output_time(moment: datetime) -> datetime:
    """Dates go out in UTC, as precise as stored.

    Atom keeps the fraction of a second: entries ingested in the same second
    still differ in ``updated`` (the W3C validator warns about equal ones);
    RSS dates (RFC 822) carry whole seconds.
    """
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: every stored date must carry an offset")
    return moment.astimezone(UTC)


def feed_item(
    entry: Entry, site: SiteConfig, *, category: Section | None, summary_chars: int
) -> FeedItem:
    """One entry as it is published; ``category`` is the entry's own section."""
    return FeedItem(
        id=entry.id,
        title=entry.title,
        link=entry_link(entry, site),
        authors=entry.authors,
        published=output_time(entry.published),
        updated=output_time(entry.updated),
        content_html=content_html(entry),
        summary=summary_text(entry, summary_chars),
        category_term=category.slug_path if category else "",
        category_label=section_label(category.path) if category else "",
        origin=entry.origin,
    )


def distinct_updated(items: Sequence[FeedItem]) -> tuple[FeedItem, ...]:
    """Items (newest first) whose ``updated`` values are all different: the
    W3C validator warns about two equal ones.  Remote sources often give
    whole seconds, so ties happen; going from the oldest up, a value not above
    the one below it becomes that one plus a microsecond.  Order is kept and
    no date moves by more than a few microseconds."""
    out = list(items)
    below: datetime | None = None
    for i in range(len(out) - 1, -1, -1):
        moment = out[i].updated
        if below is not None and moment <= below:
            moment = below + timedelta(microseconds=1)
            out[i] = replace(out[i], updated=moment)
        below = moment
    return tuple(out)


def build_feed(
    section: Section,
    entries: Sequence[Entry],
    site: SiteConfig,
    *,
    sections: Mapping[SectionPath, Section],
    summary_chars: int,
    empty_updated: datetime | None = None,
) -> Feed:
    """A section's feed from its entries (newest first, already limited).

    ``updated`` is the newest ``updated`` of the items, never the time of
    publishing, so an unchanged store gives byte-identical documents.  A feed
    without entries (a new deployment's root feed) is dated ``empty_updated``,
    which the caller derives from the store, never from now; without it an
    empty feed is refused.
    """
    items = distinct_updated([
        feed_item(e, site, category=sections.get(e.section) if e.section else None,
                  summary_chars=summary_chars)
        for e in entries
    ])
    if items:
        updated = max(item.updated for item in items)
    elif empty_updated is not None:
        updated = output_time(empty_updated)
    else:
        raise ValueError(f"section {section.slug_path!r} has no entries to publish")
    label = section_label(section.path)
    urls = feed_urls(site, section.slug_path)
    return Feed(
        section=section.path,
        slug_path=section.slug_path,
        id=section.feed_id,
        title=f"{site.title} — {label}" if label else site.title,
        subtitle=f"{site.description} — {label}" if label else site.description,
        language=site.language,
        author=site.author,
        html_url=urls.html,
        atom_url=urls.atom,
        rss_url=urls.rss,
        updated=updated,
        items=items,
    )


# ----------------------------------------------------------------------------- documents


def _generator(feed: Feed) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(feed.id)
    fg.title(feed.title)
    fg.subtitle(feed.subtitle)
    fg.language(feed.language)
    fg.author({"name": feed.author})
    fg.generator(GENERATOR, version=__version__)
    fg.updated(feed.updated)  # also lastBuildDate; feedgen would put now() there
    return fg


def atom_bytes(feed: Feed) -> bytes:
    """The Atom 1.0 document (RFC 4287)."""
    fg = _generator(feed)
    fg.link(href=feed.atom_url, rel="self", type=ATOM_TYPE)
    fg.link(href=feed.html_url, rel="alternate", type=HTML_TYPE)
    scheme = site_root(feed)
    for item in feed.items:
        fe = fg.add_entry(order="append")
        fe.id(item.id)
        fe.title(item.title)
        fe.updated(item.updated)
        if item.origin is None or item.origin.dated:  # an undated remote entry stays undated
            fe.published(item.published)
        # No entry author when there is no byline: the feed's author covers it.
        for name in item.authors:
            fe.author({"name": name})
        fe.link(href=item.link, rel="alternate")
        fe.content(item.content_html, type="html")
        fe.summary(item.summary, type="text")
        if item.category_term:
            fe.category(term=item.category_term, label=item.category_label, scheme=scheme)
    root = etree.fromstring(fg.atom_str(pretty=False), _PARSER)
    _fix_atom(root, feed)
    for element, item in zip(root.iterfind(_A + "entry"), feed.items, strict=True):
        if item.origin is not None:
            element.append(atom_source(item.origin))
    return _serialise(root)


def atom_source(origin: Origin) -> etree._Element:
    """``atom:source`` (RFC 4287 4.2.11) of a remote entry: the id, title and
    updated the validator asks for, the feed's own URL and its human page."""
    source = etree.Element(_A + "source")
    etree.SubElement(source, _A + "id").text = origin.feed_id
    kind, text = text_construct(origin.feed_title)
    etree.SubElement(source, _A + "title", type=kind).text = text
    etree.SubElement(source, _A + "updated").text = \
        output_time(origin.feed_updated).isoformat()
    # Only a web URL, and never the credentials a source is fetched with.
    feed_url = without_credentials(origin.feed_url)
    if is_web_url(feed_url):
        etree.SubElement(source, _A + "link", rel="self", href=feed_url)
    if is_web_url(origin.feed_link):
        etree.SubElement(source, _A + "link", rel="alternate", type=HTML_TYPE,
                         href=origin.feed_link)
    return source


def _fix_atom(root: etree._Element, feed: Feed) -> None:
    for path in ("title", "subtitle", "entry/title", "entry/summary"):
        for element in root.iterfind(path, {None: ATOM_NS}):
            kind, element.text = text_construct(element.text or "")
            element.set("type", kind)
    local = site_root(feed)
    for entry in root.iterfind(_A + "entry"):
        link = entry.find(_A + "link")
        if link is not None:
            link.set("rel", "alternate")
            # Only our own pages are known to be HTML; a remote original may not be.
            if link.get("href", "").startswith(local):
                link.set("type", HTML_TYPE)


def rss_bytes(feed: Feed) -> bytes:
    """The RSS 2.0 document, following the RSS Advisory Board profile."""
    fg = _generator(feed)
    fg.title(rss_text(feed.title))
    fg.load_extension("dc", atom=False, rss=True)
    fg.docs(RSS_DOCS)
    fg.link(href=feed.rss_url, rel="self", type=RSS_TYPE)
    fg.link(href=feed.html_url, rel="alternate", type=HTML_TYPE)  # last link: RSS <link>
    for item in feed.items:
        fe = fg.add_entry(order="append")
        fe.id(item.id)  # guid isPermaLink="false": a tag: URI is not a URL to visit
        fe.title(rss_text(item.title))
        fe.link(href=item.link, rel="alternate")
        if item.origin is None or item.origin.dated:
            fe.published(item.published)
        feed_url = without_credentials(item.origin.feed_url) if item.origin else ""
        if item.origin is not None and is_web_url(feed_url):
            fe.source(url=feed_url, title=rss_text(item.origin.feed_title))
        # RSS readers take <description> as HTML: escape the plain summary once more.
        fe.summary(html.escape(item.summary, quote=False))
        fe.content(item.content_html)  # content:encoded
        if item.category_label:
            fe.category(term=item.category_label)
        for name in item.authors:  # never <author>: that must be an e-mail address
            fe.dc.dc_creator(name)
    root = etree.fromstring(fg.rss_str(pretty=False), _PARSER)
    return _serialise(root)


def _serialise(root: etree._Element) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
    # The same characters, spelt as the RSS profile asks (and the validator
    # then trusts that "&amp;" in a title is meant literally).
    return data.replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")


__all__ = [
    "FeedUrls",
    "atom_bytes",
    "atom_source",
    "build_feed",
    "byline",
    "content_html",
    "distinct_updated",
    "entry_link",
    "feed_item",
    "feed_urls",
    "output_time",
    "page_url",
    "rss_bytes",
    "rss_text",
    "section_dir_url",
    "site_root",
    "summary_text",
    "text_construct",
]
