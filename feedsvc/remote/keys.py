"""The identity of each entry within its feed: keys, and the mode a feed is identified by (pure).

An entry is identified by its guid/id; else by its normalised link
(:func:`.links.normalise_link`: tracking parameters stripped); else by a hash
of its title and content.  A feed that omits or reuses guids for most of its
entries is identified by links (or hashes) as a whole, and the note says so
(:func:`assign_keys`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .items import RemoteItem
from .links import normalise_link


@dataclass(frozen=True, slots=True)
class Keyed:
    key: str  # "guid:…", "link:…" or "hash:…"
    item: RemoteItem
    #: The normalised link when it can identify the article: present, no other
    #: entry of the feed has it, and not a bare front page.
    norm_link: str | None = None


def content_key(item: RemoteItem) -> str | None:
    """Hash of title + content: the identity of last resort."""
    if not item.title and not item.text:
        return None
    data = "\x00".join((item.title, *item.text)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _unique_share(values: Iterable[str | None]) -> tuple[int, Counter[str]]:
    counts = Counter(v for v in values if v)
    return sum(1 for n in counts.values() if n == 1), counts


def assign_keys(items: Iterable[RemoteItem]) -> tuple[list[Keyed], str, list[str]]:
    """Each item's identity within its source, the mode used for the feed as a
    whole ("guid", "link" or "hash") and notes on what was skipped or why the
    mode is not "guid".

    A guid (or link) shared by several items identifies none of them; such
    items, and those without one, fall back one by one.  The whole feed falls
    back when guids identify no more than half of its items.
    """
    items = list(items)
    total = len(items)
    notes: list[str] = []
    good_guids, guid_counts = _unique_share(i.guid for i in items)
    links = [normalise_link(i.link) if i.link else None for i in items]
    good_links, link_counts = _unique_share(links)
    mode = "guid"
    if total and good_guids * 2 <= total:
        mode = "link" if good_links * 2 > total else "hash"
        missing = sum(1 for i in items if not i.guid)
        reused = total - missing - good_guids
        notes.append(f"guids missing for {missing} and reused by {reused} of {total} entries: "
                     f"entries are identified by their {'links' if mode == 'link' else 'text'}")
    out: list[Keyed] = []
    seen: set[str] = set()
    skipped = 0
    for item, link in zip(items, links, strict=True):
        key = None
        if mode == "guid" and item.guid and guid_counts[item.guid] == 1:
            key = f"guid:{item.guid}"
        elif mode != "hash" and link and link_counts[link] == 1:
            key = f"link:{link}"
        else:
            digest = content_key(item)
            key = f"hash:{digest}" if digest else None
        if key is None or key in seen:
            skipped += 1
            continue
        seen.add(key)
        usable = link if link and link_counts[link] == 1 and _names_an_article(link) else None
        out.append(Keyed(key, item, usable))
    if skipped:
        notes.append(f"{skipped} entr{'y' if skipped == 1 else 'ies'} skipped: "
                     "nothing to identify them by, or a repeat of an earlier one")
    return out, mode, notes


def _names_an_article(norm: str) -> bool:
    """A normalised link with a path: not a site's front page."""
    _, _, rest = norm.partition("//")
    host, _, path = rest.partition("/")
    return bool(host) and bool(path.strip("/"))


__all__ = ["Keyed", "assign_keys", "content_key"]
