"""What a feed document is read into: its entries and what it says about itself (pure values).

:class:`RawEntry` is an entry as a reader found it (HTML not yet
sanitised, dates still text); :class:`RemoteItem` the same entry with every
field final, as :func:`.parse.parse_feed` returns it in a :class:`ParsedFeed`
beside the feed's :class:`FeedMeta`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RemoteItem:
    """One entry of a feed, every field final."""

    guid: str | None  # the entry's own id (Atom id, RSS guid, RSS 1.0 rdf:about)
    link: str | None  # absolute
    title: str  # plain text ("" when the feed gave none)
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: datetime | None
    updated: datetime | None
    content_html: str  # sanitized, URLs absolute ("" when the feed gave none)
    text: tuple[str, ...]  # the content as plain-text paragraphs


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What a feed says about itself."""

    kind: str  # "rss2.0", "rss1.0", "atom1.0", "atom0.3", or feedparser's version name
    title: str
    link: str | None  # the human page
    id: str | None  # Atom feeds' own id
    updated: datetime | None
    ttl: int | None  # RSS <ttl>, minutes


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    meta: FeedMeta
    items: tuple[RemoteItem, ...]
    warnings: tuple[str, ...]  # recoverable problems (malformed XML that still gave entries …)


@dataclass(frozen=True, slots=True)
class RawEntry:
    """An entry as read, before sanitizing."""

    guid: str | None
    link: str | None
    title: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: str | None
    updated: str | None
    content: str  # HTML
    content_base: str


__all__ = ["FeedMeta", "ParsedFeed", "RawEntry", "RemoteItem"]
