"""One section's files and one entry's page, rendered so that a single entry
cannot stop a publish.

An entry the renderers fail on (a character XML forbids in a store written
by an older feedsvc, or any other surprise) is left out of the feeds and
index of each section it belongs to, and its page is not written; every
other entry and file is published.  Each omission is a :class:`Skipped`,
which the publish reports (a warning naming the entry and the section) and
makes the command exit non-zero.  The fast path renders a section once; only
when that fails is each entry tried alone to find the ones at fault.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..config import Config, SiteConfig
from ..models import Entry, Section, SectionPath, section_label
from .feeds import atom_bytes, build_feed, rss_bytes
from .pages import render_article, render_index

ATOM_FILE = "atom.xml"
RSS_FILE = "rss.xml"
INDEX_FILE = "index.html"

#: Longest reason kept: the message of an exception may quote a whole article.
_REASON_CHARS = 300


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry left out of a section's feeds and index (``section`` is its
    slug path, ``""`` the root) or, with ``section`` None, whose own page was
    not written."""

    entry_id: str
    section: str | None
    reason: str

    def describe(self) -> str:
        if self.section is None:
            return f"entry {self.entry_id}: its page was not written: {self.reason}"
        where = f"section {self.section!r}" if self.section else "the root section"
        return f"entry {self.entry_id}: left out of the feeds and index of {where}: {self.reason}"


def reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS - 1] + "…"


def _section_files(section: Section, entries: Sequence[Entry], children: Sequence[Section],
                   config: Config, sections: Mapping[SectionPath, Section],
                   created: datetime) -> list[tuple[str, bytes]]:
    feed = build_feed(section, entries, config.site, sections=sections,
                      summary_chars=config.publish.summary_chars, empty_updated=created)
    index = render_index(feed, section, children, config.site).encode("utf-8")
    return [(ATOM_FILE, atom_bytes(feed)), (RSS_FILE, rss_bytes(feed)), (INDEX_FILE, index)]


def render_section(section: Section, entries: Sequence[Entry], children: Sequence[Section],
                   config: Config, sections: Mapping[SectionPath, Section],
                   created: datetime) -> tuple[list[tuple[str, bytes]], list[Skipped]]:
    """(file name, bytes) of a section's Atom, RSS and index, and the entries
    left out of them.  ``created`` dates a feed left without entries."""
    try:
        return _section_files(section, entries, children, config, sections, created), []
    except Exception:  # which entry? Each is tried alone.
        skipped = [Skipped(entry.id, section.slug_path, problem) for entry in entries
                   if (problem := _problem(section, entry, children, config, sections,
                                           created)) is not None]
    bad = {s.entry_id for s in skipped}
    # Fails again (raises) only when no single entry is at fault: a bug to report.
    files = _section_files(section, [e for e in entries if e.id not in bad], children, config,
                           sections, created)
    return files, skipped


def _problem(section: Section, entry: Entry, children: Sequence[Section], config: Config,
             sections: Mapping[SectionPath, Section], created: datetime) -> str | None:
    """Why a section's files cannot be rendered with ``entry`` alone in them, if so."""
    try:
        _section_files(section, [entry], children, config, sections, created)
    except Exception as exc:  # anything: one entry must not stop all
        return reason(exc)
    return None


def render_page(entry: Entry, sections: Mapping[SectionPath, Section],
                site: SiteConfig) -> bytes | Skipped:
    """An entry's article page, or why it cannot be written."""
    section = sections.get(entry.section)
    if section is None:
        return Skipped(entry.id, None, f"its section {section_label(entry.section)!r} is "
                                       "not in the store")
    try:
        return render_article(entry, section, site).encode("utf-8")
    except Exception as exc:  # anything: one entry must not stop all
        return Skipped(entry.id, None, reason(exc))


__all__ = ["ATOM_FILE", "INDEX_FILE", "RSS_FILE", "Skipped", "reason", "render_page",
           "render_section"]
