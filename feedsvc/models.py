"""The frozen types that flow through the pipeline, one per stage.

seed bytes --parse--> Article --store--> Entry --publish--> FeedItem / Feed

Third-party shapes (sqlite rows, feedparser dicts, feedgen objects) are
converted into these at the module that touches them and never travel further.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

#: A section path such as ``("National", "Politics")``; ``()`` is the root.
SectionPath = tuple[str, ...]


def section_label(section: SectionPath) -> str:
    """The human label of a section path: ``National / Politics``."""
    return " / ".join(section)


@dataclass(frozen=True, slots=True)
class Article:
    """A seed file after parsing: text exactly as written, furniture removed."""

    section: SectionPath
    title: str
    authors: tuple[str, ...]
    credit: str | None
    paragraphs: tuple[str, ...]


class VersionBody(NamedTuple):
    """A stored version as near-duplicate verification needs it."""

    entry_id: str
    section: SectionPath
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a remote entry came from: the source feed as ``atom:source`` describes
    it, and what that feed called the entry."""

    source: str  # the source's name in the configuration
    feed_url: str  # where the feed is fetched from now
    feed_id: str  # the feed's own id; its URL for feeds without one (RSS)
    feed_title: str
    feed_link: str | None  # the feed's human page
    feed_updated: datetime  # the feed's updated when the entry was taken (else that time)
    original_id: str | None  # the entry's guid/id in the source feed
    #: False when the source gave no publication date: ``published`` then
    #: holds its updated date or the time the entry was first seen (for
    #: ordering), and no publication date is published.
    dated: bool = True


@dataclass(frozen=True, slots=True)
class Entry:
    """An article as the store holds it: identity and dates minted once.

    ``seq`` orders entries by first ingest; ``version`` is the store's number
    of the current text (it changes with every revision).
    ``page`` is the entry's HTML page relative to the output folder (minted
    with the id and never recomputed, so links stay valid).  ``link`` is an
    external original URL (remote entries); ``content_html`` is already
    sanitized HTML for entries that arrive as HTML rather than paragraphs.
    """

    id: str
    seq: int
    version: int
    section: SectionPath
    title: str
    authors: tuple[str, ...]
    credit: str | None
    paragraphs: tuple[str, ...]
    published: datetime
    updated: datetime
    page: str
    link: str | None = None
    content_html: str | None = None
    origin: Origin | None = None  # remote entries only


@dataclass(frozen=True, slots=True)
class Section:
    """A node of the section tree with its minted, permanent slug path and feed id."""

    path: SectionPath
    slug_path: str  # "" for the root, else "national/politics"
    feed_id: str


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry as it is published: every string final, every URL absolute."""

    id: str
    title: str
    link: str
    authors: tuple[str, ...]
    published: datetime
    updated: datetime
    content_html: str
    summary: str
    category_term: str
    category_label: str
    origin: Origin | None = None  # remote entries: atom:source / RSS <source>


@dataclass(frozen=True, slots=True)
class Feed:
    """Everything needed to serialise one section's Atom and RSS documents."""

    section: SectionPath
    slug_path: str
    id: str
    title: str
    subtitle: str
    language: str
    author: str
    html_url: str
    atom_url: str
    rss_url: str
    updated: datetime
    items: tuple[FeedItem, ...]


class Decision(StrEnum):
    """What ingest decided for one input file."""

    NEW = "new"
    REVISED = "revised"
    DUPLICATE = "duplicate"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """The decision for one input file, reported to the user and recorded."""

    path: str
    decision: Decision
    entry_id: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """One entry as ``feedsvc entries`` lists it: enough to find it, no text."""

    id: str
    section: SectionPath
    title: str
    source: str  # where its current version came from: "seeds" or a source's name
    published: datetime
    updated: datetime
    page: str
    hidden: datetime | None  # when an operator took it out of publishing
