"""Documents the direct readers of :mod:`.parse` do not know, read by feedparser.

Malformed XML, HTML entities without a DTD and unknown dialects go to
feedparser, with its own sanitising and URL resolution switched off (ours
run on what it finds, as on every other feed); its ``bozo`` flag becomes a
warning when it still finds entries.  It costs ~3 ms per entry, and importing
it 0.1 s, so only such documents pay for it.
"""

from __future__ import annotations

from typing import Any

from .dates import parse_date
from .items import FeedMeta, RawEntry
from .links import resolve_url
from .sanitize import html_to_text, text_as_html


def _fp_text(detail: Any, fallback: str = "") -> tuple[str, str]:
    if not detail:
        return "text", fallback
    kind = str(detail.get("type") or "text/plain")
    return ("html" if "html" in kind else "text"), str(detail.get("value") or "")


def read_with_feedparser(data: bytes, url: str, content_type: str | None
                         ) -> tuple[FeedMeta, list[RawEntry], list[str]]:
    """What feedparser finds in ``data``: the feed's meta, its entries as read,
    and warnings (a malformed document that still gave entries)."""
    import feedparser  # only odd feeds need it, and importing it costs 0.1 s
    from feedparser.exceptions import ThingsNobodyCaresAboutButMe

    # The Content-Type received decides the encoding (RFC 3023) as it would
    # for any reader; without one (a local file, a server that sent none)
    # the document alone decides, as "application/xml" says.  Headers with
    # no Content-Type at all would make feedparser call every document
    # malformed and read it as ISO-8859-1.
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    parsed = feedparser.parse(data, response_headers=headers,
                              sanitize_html=False, resolve_relative_uris=False)
    warnings: list[str] = []
    bozo = parsed.get("bozo_exception")
    # A media type that is not XML's, or a charset the bytes contradict, says
    # nothing against the document itself: not a warning, never an error.
    if parsed.get("bozo") and not isinstance(bozo, ThingsNobodyCaresAboutButMe):
        warnings.append(f"malformed feed: {bozo}")
    feed = parsed.get("feed", {})
    kind, title = _fp_text(feed.get("title_detail"), str(feed.get("title", "")))
    ttl = str(feed.get("ttl", "")).strip()
    meta = FeedMeta(
        kind=str(parsed.get("version") or "unknown"),
        title=html_to_text(title) if kind == "html" else " ".join(title.split()),
        link=resolve_url(str(feed.get("link", "")), url) or None,
        id=str(feed["id"]) if feed.get("id") and "atom" in str(parsed.get("version")) else None,
        updated=parse_date(str(dict.get(feed, "updated", ""))),
        ttl=int(ttl) if ttl.isdigit() else None,
    )
    raws = []
    rss = str(parsed.get("version") or "").startswith("rss")
    for e in parsed.get("entries", []):
        contents = e.get("content") or []
        detail = contents[0] if contents else e.get("summary_detail")
        ckind, cvalue = _fp_text(detail, str(e.get("summary", "")))
        tkind, tvalue = _fp_text(e.get("title_detail"), str(e.get("title", "")))
        base = str((detail or {}).get("base") or url)
        names = [str(a.get("name", "")) for a in e.get("authors", []) if a.get("name")]
        raws.append(RawEntry(
            guid=str(e["id"]) if e.get("id") else None,
            link=resolve_url(str(e.get("link", "")), base) or None,
            title=html_to_text(tvalue) if tkind == "html" else " ".join(tvalue.split()),
            authors=tuple(names),
            categories=tuple(str(t.get("label") or t.get("term") or "")
                             for t in e.get("tags", [])),
            # feedparser files dc:date under "updated"; in RSS it is the
            # publication date, as the lxml path reads it.
            published=str(e.get("published", "")) or (
                str(dict.get(e, "updated", "")) or None if rss else None),
            # dict.get: feedparser's own get() answers "updated" with the
            # published date (and a deprecation warning) when there is none
            updated=str(dict.get(e, "updated", "")) or None,
            content=cvalue if ckind == "html" else text_as_html(cvalue),
            content_base=base,
        ))
    return meta, raws, warnings


__all__ = ["read_with_feedparser"]
