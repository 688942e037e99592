"""Feed documents → entries of our model, at the boundary (pure: no I/O).

:func:`parse_feed` takes the bytes of an RSS 0.9x/1.0/2.0 or Atom 0.3/1.0
document and returns a :class:`ParsedFeed` whose every string is final:
titles plain text, HTML sanitized once (nh3, an allowlist sanitizer) with
every relative URL made absolute against ``xml:base`` or the feed's URL,
dates timezone-aware (a missing or unreadable date stays ``None``: it is
never invented).

Safety first: a document that declares XML entities or refers to external
ones (billion laughs, XXE) is refused before any parser builds a tree
(:mod:`.xmlsafety`).

Speed: feedparser costs ~3 ms per entry even with its own sanitizing and
URL resolution switched off, which caps a fetch of 500 feeds at about
15 feeds/s on two cores.  Well-formed documents of the five known shapes are
therefore read with lxml directly (~50 µs per entry); everything else
(malformed XML, HTML entities without a DTD, unknown dialects) goes to
feedparser (:mod:`.fallback`), whose ``bozo`` flag becomes a warning when it
still finds entries.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from dataclasses import replace

from lxml import etree  # type: ignore[import-untyped]

from ..errors import FetchError
from ..urls import web_url
from ..xmltext import drop_unpublishable, first_unpublishable
from .dates import parse_date
from .fallback import read_with_feedparser
from .items import FeedMeta, ParsedFeed, RawEntry, RemoteItem
from .links import SCHEME, resolve_url
from .sanitize import html_to_text, paragraphs, sanitize, text_as_html
from .xmlsafety import DTD_MARK, PARSER, new_parser, read_external_entities, refuse_entity_tricks

# ----------------------------------------------------------------------------- parsing

ATOM = "http://www.w3.org/2005/Atom"
ATOM03 = "http://purl.org/atom/ns#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RSS1 = "http://purl.org/rss/1.0/"
RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
XHTML = "http://www.w3.org/1999/xhtml"


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    if len(el) == 0:  # the common case: .text is all of it, and a quarter the cost
        return el.text or ""
    return "".join(el.itertext())


def _first(parent: etree._Element, *tags: str) -> etree._Element | None:
    for tag in tags:
        el = parent.find(tag)
        if el is not None:
            return el
    return None


def _base(el: etree._Element, fallback: str) -> str:
    base = el.base
    return base if isinstance(base, str) and base else fallback


def _finish(raw: RawEntry, link: str | None) -> RemoteItem:
    content = sanitize(raw.content, raw.content_base)
    text = paragraphs(content) if content else ()
    return RemoteItem(
        guid=raw.guid.strip() if raw.guid and raw.guid.strip() else None,
        link=link,
        title=raw.title,
        authors=tuple(dict.fromkeys(a for a in raw.authors if a)),
        categories=tuple(dict.fromkeys(c for c in raw.categories if c)),
        published=parse_date(raw.published),
        updated=parse_date(raw.updated),
        content_html=content,
        text=text,
    )


def _rss_author(text: str) -> str:
    """RSS ``<author>`` is ``email (Name)``: the name if given, else the text."""
    text = " ".join(text.split())
    m = re.fullmatch(r"\S+@\S+\s*\((.+)\)", text)
    return m[1].strip() if m else text


# -- RSS 0.9x / 2.0 and 1.0


def _children(el: etree._Element) -> dict[str, list[etree._Element]]:
    """Child elements by tag, in one pass (a dozen ``find`` calls cost ten times more)."""
    out: dict[str, list[etree._Element]] = {}
    for child in el:
        tag = child.tag
        if isinstance(tag, str):
            out.setdefault(tag, []).append(child)
    return out


def _one(kids: dict[str, list[etree._Element]], *tags: str) -> etree._Element | None:
    for tag in tags:
        found = kids.get(tag)
        if found:
            return found[0]
    return None


def _texts(kids: dict[str, list[etree._Element]], tag: str) -> list[str]:
    return [_text(el).strip() for el in kids.get(tag, ())]


_RSS2_TAGS = {name: name for name in ("guid", "link", "description", "author", "category",
                                      "pubDate", "title")}
_RSS1_TAGS = {name: _q(RSS1, name) for name in _RSS2_TAGS}


def _rss_item(item: etree._Element, base: str, rss1: bool) -> RawEntry:
    tag = _RSS1_TAGS if rss1 else _RSS2_TAGS
    kids = _children(item)
    item_base = _base(item, base)
    guid_el = None if rss1 else _one(kids, "guid")
    guid = _text(guid_el) if guid_el is not None else item.get(_q(RDF, "about"))
    link = _text(_one(kids, tag["link"])).strip()
    if not link and guid_el is not None and guid_el.get("isPermaLink", "true") != "false":
        link = _text(guid_el).strip() if SCHEME.match(_text(guid_el).strip()) else ""
    if not link:
        alt = _one(kids, _q(ATOM, "link"))
        link = alt.get("href", "") if alt is not None else ""
    encoded = _one(kids, _q(CONTENT, "encoded"))
    content_el = encoded if encoded is not None and _text(encoded).strip() else \
        _one(kids, tag["description"])
    authors = _texts(kids, _q(DC, "creator"))
    authors += [_rss_author(_text(a)) for a in kids.get(tag["author"], ())]
    categories = _texts(kids, tag["category"]) + _texts(kids, _q(DC, "subject"))
    published = _one(kids, tag["pubDate"], _q(DC, "date"))
    updated = _one(kids, _q(ATOM, "updated"), _q(DCTERMS, "modified"))
    return RawEntry(
        guid=guid,
        link=resolve_url(link, item_base) or None,
        # Dublin Core: RSS 1.0 and 2.0 publishers title some items only so.
        title=html_to_text(_text(_one(kids, tag["title"], _q(DC, "title")))),
        authors=tuple(authors),
        categories=tuple(categories),
        published=_text(published) if published is not None else None,
        updated=_text(updated) if updated is not None else None,
        content=_text(content_el),
        content_base=_base(content_el, item_base) if content_el is not None else item_base,
    )


def _rss(root: etree._Element, url: str) -> tuple[FeedMeta, list[RawEntry]]:
    channel = root.find("channel")
    if channel is None:
        raise _Unknown
    base = _base(channel, url)
    ttl_text = _text(channel.find("ttl")).strip()
    link = _text(channel.find("link")).strip()
    updated = _first(channel, "lastBuildDate", "pubDate", _q(DC, "date"))
    meta = FeedMeta(
        kind="rss" + (root.get("version") or "2.0"),
        title=html_to_text(_text(_first(channel, "title", _q(DC, "title")))),
        link=resolve_url(link, base) or None,
        id=None,
        updated=parse_date(_text(updated)) if updated is not None else None,
        ttl=int(ttl_text) if ttl_text.isdigit() else None,
    )
    return meta, [_rss_item(item, base, False) for item in channel.iterfind("item")]


def _rdf(root: etree._Element, url: str) -> tuple[FeedMeta, list[RawEntry]]:
    ns = RSS1 if root.find(_q(RSS1, "channel")) is not None else RSS090
    channel = root.find(_q(ns, "channel"))
    if channel is None:
        raise _Unknown
    base = _base(root, url)
    link = _text(channel.find(_q(ns, "link"))).strip()
    updated = channel.find(_q(DC, "date"))
    meta = FeedMeta(
        kind="rss1.0" if ns == RSS1 else "rss0.90",
        title=html_to_text(_text(_first(channel, _q(ns, "title"), _q(DC, "title")))),
        link=resolve_url(link, base) or None,
        id=None,
        updated=parse_date(_text(updated)) if updated is not None else None,
        ttl=None,
    )
    items = root.iterfind(_q(ns, "item"))
    if ns == RSS1:
        return meta, [_rss_item(item, base, True) for item in items]
    return meta, [_rss090_item(item, base) for item in items]


def _rss090_item(item: etree._Element, base: str) -> RawEntry:
    link = _text(item.find(_q(RSS090, "link"))).strip()
    return RawEntry(guid=None, link=resolve_url(link, base) or None,
                    title=html_to_text(_text(item.find(_q(RSS090, "title")))), authors=(),
                    categories=(), published=None, updated=None,
                    content=_text(item.find(_q(RSS090, "description"))), content_base=base)


# -- Atom 1.0 and 0.3


def _atom_text(el: etree._Element | None, ns: str) -> tuple[str, str]:
    """(kind, value) of an Atom text construct: kind "text" or "html"; xhtml
    content becomes html."""
    if el is None:
        return "text", ""
    kind = (el.get("type") or "text").lower()
    mode = (el.get("mode") or "xml").lower() if ns == ATOM03 else ""
    if ns == ATOM03:
        if mode == "base64":
            try:
                value = base64.b64decode(_text(el)).decode("utf-8", "replace")
            except ValueError:
                value = ""
            return ("html" if "html" in kind else "text"), value
        if mode == "escaped":
            return ("html" if "html" in kind else "text"), _text(el)
        if len(el):
            return "html", _inner_xml(el)
        return ("html" if "html" in kind else "text"), _text(el)
    if kind in ("xhtml", "application/xhtml+xml"):
        div = el.find(_q(XHTML, "div"))
        return "html", _inner_xml(div if div is not None else el)
    if kind in ("html", "text/html"):
        return "html", _text(el)
    return "text", _text(el)


def _inner_xml(el: etree._Element) -> str:
    """The children of ``el`` as HTML markup, namespace prefixes dropped."""
    parts = [html.escape(el.text or "", quote=False)]
    for child in el:
        markup = etree.tostring(child, encoding="unicode", with_tail=True)
        parts.append(re.sub(r'\sxmlns(?::\w+)?="[^"]*"', "", markup))
    return "".join(parts)


def _atom_plain(el: etree._Element | None, ns: str) -> str:
    kind, value = _atom_text(el, ns)
    return html_to_text(value) if kind == "html" else " ".join(value.split())


def _atom_link(parent: etree._Element, ns: str, base: str) -> str | None:
    fallback = None
    for link in parent.iterfind(_q(ns, "link")):
        rel = link.get("rel", "alternate")
        href = link.get("href")
        if not href:
            continue
        if rel == "alternate":
            if (link.get("type") or "text/html") in ("text/html", "application/xhtml+xml"):
                return resolve_url(href, _base(link, base))
            fallback = fallback or resolve_url(href, _base(link, base))
    return fallback


def _atom_authors(parent: etree._Element, ns: str) -> tuple[str, ...]:
    names = []
    for author in parent.iterfind(_q(ns, "author")):
        name = " ".join(_text(author.find(_q(ns, "name"))).split())
        if name:
            names.append(name)
    return tuple(names)


def _atom_entry(entry: etree._Element, ns: str, base: str,
                feed_authors: tuple[str, ...]) -> RawEntry:
    entry_base = _base(entry, base)
    content_el = entry.find(_q(ns, "content"))
    if content_el is not None and content_el.get("src"):
        content_el = None  # out-of-line content: not fetched
    if content_el is None or (not _text(content_el).strip() and not len(content_el)):
        content_el = entry.find(_q(ns, "summary"))
    kind, value = _atom_text(content_el, ns)
    content = value if kind == "html" else text_as_html(value)
    if ns == ATOM:
        published = _first(entry, _q(ATOM, "published"))
        updated = _first(entry, _q(ATOM, "updated"))
    else:
        published = _first(entry, _q(ATOM03, "issued"), _q(ATOM03, "created"))
        updated = _first(entry, _q(ATOM03, "modified"))
    categories = [c.get("label") or c.get("term") or "" for c in
                  entry.iterfind(_q(ns, "category"))]
    categories += [_text(c).strip() for c in entry.iterfind(_q(DC, "subject"))]
    return RawEntry(
        guid=_text(entry.find(_q(ns, "id"))),
        link=_atom_link(entry, ns, entry_base),
        title=_atom_plain(entry.find(_q(ns, "title")), ns),
        authors=_atom_authors(entry, ns) or feed_authors,
        categories=tuple(c.strip() for c in categories),
        published=_text(published) if published is not None else None,
        updated=_text(updated) if updated is not None else None,
        content=content,
        content_base=_base(content_el, entry_base) if content_el is not None else entry_base,
    )


def _atom(root: etree._Element, url: str, ns: str) -> tuple[FeedMeta, list[RawEntry]]:
    base = _base(root, url)
    updated = _first(root, _q(ns, "updated"), _q(ns, "modified"))
    feed_id = " ".join(_text(root.find(_q(ns, "id"))).split())
    meta = FeedMeta(
        kind="atom1.0" if ns == ATOM else "atom0.3",
        title=_atom_plain(root.find(_q(ns, "title")), ns),
        link=_atom_link(root, ns, base),
        id=feed_id or None,
        updated=parse_date(_text(updated)) if updated is not None else None,
        ttl=None,
    )
    authors = _atom_authors(root, ns)
    return meta, [_atom_entry(e, ns, base, authors) for e in root.iterfind(_q(ns, "entry"))]


class _Unknown(Exception):
    """Not one of the shapes read directly: feedparser reads it."""


_SHAPES: dict[str, Callable[[etree._Element, str], tuple[FeedMeta, list[RawEntry]]]] = {
    "rss": _rss,
    _q(RDF, "RDF"): _rdf,
    _q(ATOM, "feed"): lambda root, url: _atom(root, url, ATOM),
    _q(ATOM03, "feed"): lambda root, url: _atom(root, url, ATOM03),
}


def _fast(data: bytes, url: str) -> tuple[FeedMeta, list[RawEntry]]:
    # A document with a DTD gets a parser of its own: its error log (which
    # names undeclared entities) is then this document's alone.
    dtd = bool(DTD_MARK.search(data))
    parser = new_parser() if dtd else PARSER
    try:
        root = etree.fromstring(data, parser, base_url=url)
    except (etree.XMLSyntaxError, ValueError):
        raise _Unknown from None
    if dtd:
        read_external_entities(root, parser, url)
    reader = _SHAPES.get(root.tag) if isinstance(root.tag, str) else None
    if reader is None:
        raise _Unknown
    return reader(root, url)


def parse_feed(data: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    """The feed in ``data`` (fetched from ``url``, its base for relative links;
    ``content_type`` as the server sent it, if it did).

    Raises :class:`FetchError` for a refused document, or one that is not a
    feed at all (no entries and not well-formed).

    Only http(s) links are kept (:func:`urls.web_url`): any other link of an
    entry or of the feed is dropped here, and one warning says how many.
    """
    refuse_entity_tricks(data, url)
    warnings: list[str] = []
    try:
        meta, raws = _fast(data, url)
    except _Unknown:
        meta, raws, warnings = read_with_feedparser(data, url, content_type)
        if warnings and not raws:
            raise FetchError(f"not a readable feed ({warnings[0]})", where=url) from None
        if not raws and meta.kind == "unknown":
            raise FetchError("not an RSS or Atom feed", where=url) from None
    dropped: list[str] = []
    site = _web_link(meta.link, dropped)
    if site != meta.link:
        meta = FeedMeta(meta.kind, meta.title, site, meta.id, meta.updated, meta.ttl)
    items = tuple(_publishable(_finish(r, _web_link(r.link, dropped))) for r in raws)
    if dropped:
        schemes = sorted({_scheme_of(d) for d in dropped})
        warnings.append(f"{len(dropped)} link{'' if len(dropped) == 1 else 's'} dropped: only "
                        f"http and https links are published (schemes seen: "
                        f"{', '.join(schemes)})")
    return ParsedFeed(meta=_publishable_meta(meta), items=items, warnings=tuple(warnings))


def _scheme_of(link: str) -> str:
    """The scheme of a link as a browser reads it (letters only: safe to log)."""
    m = SCHEME.match(re.sub(r"[\t\n\r]", "", link.strip()))
    return m[0][:-1].lower()[:20] if m else "none"


def _web_link(link: str | None, dropped: list[str]) -> str | None:
    """The link if it may be published (http or https), else None and noted."""
    if not link:
        return None
    kept = web_url(link)
    if kept is None:
        dropped.append(link)
    return kept


def _publishable(item: RemoteItem) -> RemoteItem:
    """``item`` without the characters no feed can carry (see :mod:`feedsvc.xmltext`).

    Checked on the final strings: feedparser's fallback keeps raw control
    characters and references to them, and nh3 turns an escaped ``&#1;`` or
    ``&#xFFFE;`` into the character itself.
    """
    # One look at everything first: nearly every item is clean, and is kept as it is.
    strings = (item.guid or "", item.link or "", item.title, item.content_html,
               *item.authors, *item.categories, *item.text)
    if first_unpublishable("\n".join(strings)) is None:
        return item

    def many(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v for v in map(drop_unpublishable, values) if v)

    return replace(
        item,
        guid=None if item.guid is None else drop_unpublishable(item.guid),
        link=None if item.link is None else drop_unpublishable(item.link),
        title=drop_unpublishable(item.title), authors=many(item.authors),
        categories=many(item.categories), content_html=drop_unpublishable(item.content_html),
        text=many(item.text))


def _publishable_meta(meta: FeedMeta) -> FeedMeta:
    return replace(meta, title=drop_unpublishable(meta.title),
                   link=None if meta.link is None else drop_unpublishable(meta.link),
                   id=None if meta.id is None else drop_unpublishable(meta.id))


__all__ = ["parse_feed"]
