"""HTML pages (pure): one per entry, and an ``index.html`` per section folder.

Jinja2 with autoescaping renders every stored string as text; the only
markup passed through is the entry body from :func:`feeds.content_html`,
which is escaped paragraph by paragraph (or is the already-sanitized HTML of
a remote entry).  Links between pages are relative, so the output folder can
be browsed from disk or served under any path; the canonical link is
absolute.

Pages are the volume (one per entry), so the parts that only depend on the
section and the page's depth (feed links, breadcrumbs, footer) are rendered
once and reused: a page render is then a handful of escapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

from ..config import SiteConfig
from ..models import Entry, Feed, Section, section_label
from .feeds import (
    FeedUrls,
    byline,
    content_html,
    entry_link,
    feed_urls,
    output_time,
    site_root,
)


@dataclass(frozen=True, slots=True)
class Link:
    """A link in a page: the text shown and its href."""

    label: str
    href: str


@dataclass(frozen=True, slots=True)
class Moment:
    """A date as a page shows it: machine-readable and for people."""

    iso: str
    shown: str

    @classmethod
    def of(cls, moment: datetime) -> Moment:
        # HTML allows at most milliseconds; a person reads minutes anyway.
        iso = output_time(moment).isoformat(timespec="seconds")  # 2026-11-27T08:00:00+00:00
        return cls(iso, f"{iso[:10]} {iso[11:16]} UTC")


@dataclass(frozen=True, slots=True)
class _Chrome:
    head: Markup
    nav: Markup
    footer: Markup


@dataclass(frozen=True, slots=True)
class _IndexItem:
    title: str
    href: str
    published: Moment
    byline: str | None
    summary: str


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("feedsvc.publish", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def _template(name: str) -> jinja2.Template:
    return _environment().get_template(name)


def section_folder(slug_path: str) -> str:
    """A section's folder relative to the site root: ``""`` or ``"a/b/"``."""
    return slug_path + "/" if slug_path else ""


def _up(relpath: str) -> str:
    """The way back to the site root from the folder of ``relpath``."""
    return "../" * relpath.count("/")


def _feed_title(site: SiteConfig, section: Section) -> str:
    label = section_label(section.path)
    return f"{site.title} — {label}" if label else site.title


@lru_cache(maxsize=4096)
def _chrome(section: Section, site: SiteConfig, up: str) -> _Chrome:
    folder = section_folder(section.slug_path)
    # The section's own URLs, relative to the site root (``up`` leads there).
    feeds = FeedUrls(html=folder + "index.html", atom=folder + "atom.xml", rss=folder + "rss.xml")
    slugs = section.slug_path.split("/") if section.slug_path else []
    crumbs = [
        Link(label, section_folder("/".join(slugs[: depth + 1])) + "index.html")
        for depth, label in enumerate(section.path)
    ]
    # Macros of an autoescaping environment return Markup already: escaped inside.
    macros: Any = _template("chrome.html").module
    return _Chrome(
        head=macros.head(_feed_title(site, section), feeds, up),
        nav=macros.nav(site.title, crumbs, up),
        footer=macros.footer(feeds, up),
    )


def render_article(entry: Entry, section: Section, site: SiteConfig) -> str:
    """The page of one entry, written at ``OUT/`` + ``entry.page``.

    ``section`` is the entry's own section: the breadcrumbs lead to it and a
    browser offers its feeds for subscription.
    """
    published = Moment.of(entry.published)
    updated = Moment.of(entry.updated)
    return _template("article.html").render(
        language=site.language,
        site_title=site.title,
        title=entry.title,
        canonical=entry_link(entry, site),
        chrome=_chrome(section, site, _up(entry.page)),
        published=published,
        updated=updated if updated != published else None,
        content=Markup(content_html(entry)),  # escaped by content_html  # noqa: S704
        original=entry.link,
    )


def render_index(
    feed: Feed, section: Section, children: Sequence[Section], site: SiteConfig
) -> str:
    """A section's ``index.html``: its newest entries, its subsections, its feeds.

    ``feed`` is the section's feed (its items are the entries listed);
    ``children`` are the sections one level below that have entries.
    """
    up = _up(section_folder(section.slug_path))
    root = site_root(feed)
    items = [
        _IndexItem(
            title=item.title,
            # Our own pages are linked relatively; a remote original stays absolute.
            href=up + item.link[len(root) :] if item.link.startswith(root) else item.link,
            published=Moment.of(item.published),
            byline=byline(item.authors, None),
            summary=item.summary,
        )
        for item in feed.items
    ]
    child_links = [
        Link(child.path[-1], up + section_folder(child.slug_path) + "index.html")
        for child in children
    ]
    return _template("index.html").render(
        language=site.language,
        title=feed.title,
        heading=section_label(section.path) or site.title,
        subtitle=feed.subtitle,
        canonical=feed_urls(site, section.slug_path).html,
        chrome=_chrome(section, site, up),
        items=items,
        children=child_links,
    )


__all__ = ["Link", "Moment", "render_article", "render_index", "section_folder"]
