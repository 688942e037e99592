"""What ``feedsvc entries`` prints: entries as lines or ``--json``, and what
``entries hide`` and ``entries unhide`` did.

Titles, ids and source names come from seed files and remote servers, so
every one passes through :func:`printable` before it reaches a terminal.
Finding, hiding and showing entries is the library's
(:mod:`feedsvc.store.admin`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..models import EntryInfo, section_label

if TYPE_CHECKING:
    from ..store.admin import VisibilityChange


def describe(change: VisibilityChange) -> str:
    """What :func:`~feedsvc.store.admin.hide_entry` or ``unhide_entry`` did, in one line."""
    state = "hidden" if change.hidden else "shown"
    return f"{printable(change.entry_id)}: {state} from the next publish on" \
        if change.changed else f"{printable(change.entry_id)}: was {state} already"


def printable(text: str) -> str:
    """``text`` safe for a terminal and a log line: control and format
    characters, line separators, surrogates and unassigned code points
    (newlines, ESC, bidi overrides, U+FFFF …) become escapes."""
    if text.isprintable():
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE else c for c in text)


_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def entry_json(info: EntryInfo) -> dict[str, Any]:
    """One entry for ``--json``: dates in ISO 8601, the section as its label."""
    return {"id": info.id, "section": section_label(info.section), "title": info.title,
            "source": info.source, "published": info.published.isoformat(),
            "updated": info.updated.isoformat(), "page": info.page,
            "hidden": info.hidden.isoformat() if info.hidden else None}


def render_entries(infos: Iterable[EntryInfo]) -> str:
    """One line per entry: id, updated, section, source, title, and whether hidden."""
    lines = []
    for info in infos:
        mark = f"  HIDDEN since {info.hidden:%Y-%m-%d %H:%M}" if info.hidden else ""
        lines.append(f"{printable(info.id)}  {info.updated:%Y-%m-%d %H:%M}  "
                     f"{printable(section_label(info.section))}  [{printable(info.source)}]"
                     f"{mark}\n    {printable(info.title)}")
    return "\n".join(lines) if lines else "no entries"


__all__ = ["describe", "entry_json", "printable", "render_entries"]
