"""The store's records: the small frozen types rows become before they leave
the store (beside those of :mod:`feedsvc.models`), and the text encodings
every backend writes the same way.

:func:`encode_strings` is how lists of strings (authors, paragraphs, a
section path) are kept, and :class:`Encoded` an article's variable-size
fields in that encoding; ``_ts`` and ``_dt`` turn times into the fixed-width
UTC text the store orders by, and back.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING

from ..models import Article, Decision, SectionPath

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

#: Source name of files read from the seeds folder.
SEEDS = "seeds"


@dataclass(frozen=True, slots=True)
class FileState:
    """What the store remembers of an input file, to skip it when unchanged."""

    size: int
    mtime_ns: int
    raw_hash: bytes
    decision: Decision
    entry_id: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class RunInfo:
    kind: str
    started: datetime
    finished: datetime | None  # None: still running, or the process died
    counts: Mapping[str, int]
    error: str | None


@dataclass(frozen=True, slots=True)
class StoreStatus:
    entries_by_section: Mapping[str, int]  # section label -> entries directly in it
    entries: int
    versions: int
    last_run: RunInfo | None
    #: (relpath, message) of the files rejected on their last read; the path is
    #: :func:`~feedsvc.names.printable`, as it is shown
    rejected: tuple[tuple[str, str], ...]
    hidden: tuple[str, ...] = ()  # ids of the entries taken out of publishing


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers of a remote source between two fetches."""

    name: str
    url: str  # as configured; a change of it starts the source afresh
    current_url: str | None = None  # where it moved for good (301/308)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: bytes | None = None  # of the last body that was ingested whole
    last_fetch: datetime | None = None
    last_status: int | None = None  # HTTP status; None: no answer, or a local file
    last_error: str | None = None
    errors: int = 0  # consecutive failed fetches
    next_due: datetime | None = None
    disabled: str | None = None  # why it is not fetched any more (410 Gone)
    interval: float | None = None  # seconds, raised by cache hints
    note: str | None = None  # what the last fetch noticed: malformed XML, guids missing …
    title: str | None = None
    site_link: str | None = None
    feed_id: str | None = None
    feed_updated: datetime | None = None
    entries: int = 0  # entries it delivered (read only)

    @property
    def fetch_url(self) -> str:
        return self.current_url or self.url


@dataclass(frozen=True, slots=True)
class SourceItem:
    """What one source says about one entry: its key within the source and
    the facts that tell whether it changed."""

    source: str
    key: str
    original_id: str | None
    original_link: str | None
    norm_link: str | None
    item_hash: bytes
    published: datetime | None  # as the source gave them; None: not given
    updated: datetime | None
    feed_updated: datetime  # the feed's updated when this was read, else that time


@dataclass(frozen=True, slots=True)
class KnownItem:
    """An entry a source delivered before, as that source's ingest needs it."""

    entry_id: str
    section: SectionPath
    item_hash: bytes
    updated: datetime | None  # as the source gave it
    origin: bool  # the entry came from this source: its changes revise it


# ---------------------------------------------------------------------------
# conversions


@functools.lru_cache(maxsize=256)
def _ts(moment: datetime) -> str:
    """Fixed-width UTC text, so text order is time order.  Cached: formatting
    costs ten times the lookup, and a feed's entries repeat their dates (an
    entry's published date is also its item's; the feed's date is every item's)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@functools.lru_cache(maxsize=4)
def _day_parts(day: date) -> tuple[str, str]:
    """A day as ids and page folders spell it (formatting dates is slow; a run has few)."""
    return day.isoformat(), f"{day:%Y/%m/%d}"


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def encode_strings(items: Iterable[str]) -> str:
    """A list of strings as the store keeps it (authors, paragraphs, a section
    path): exactly ``json.dumps(list(items))``, ASCII escapes and all (ASCII
    text is bound to SQLite and pickled without re-encoding).  Built from the
    encoder's C string function directly: the encoder object around it costs
    as much again for a paragraph list."""
    return "[" + ", ".join(map(encode_basestring_ascii, items)) + "]"


def decode_strings(text: str) -> tuple[str, ...]:
    """:func:`encode_strings` read back."""
    return tuple(json.loads(text))


@dataclass(frozen=True, slots=True)
class Encoded:
    """An article's variable-size fields in the store's own encoding.

    Pure, so a bulk ingest computes it beside the parsing (in the worker
    process) and the writing process only passes it through.
    """

    authors: str
    paragraphs: str
    signature: bytes

    @classmethod
    def of(cls, article: Article, signature: npt.NDArray[np.uint64]) -> Encoded:
        from ..dedup import signature_to_bytes

        return cls(encode_strings(article.authors), encode_strings(article.paragraphs),
                   signature_to_bytes(signature))
