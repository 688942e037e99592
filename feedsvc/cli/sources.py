"""``feedsvc sources``: each remote source with its state, as text or ``--json``.

A source whose stored state belongs to another URL (the configuration now
points elsewhere) is shown as new: it starts afresh on its next fetch.
URLs are shown with their password masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..config import Config, SourceConfig
from ..remote.plans import stored_url
from ..store import SourceState, Store
from ..urls import masked


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One source as ``feedsvc sources`` shows it."""

    config: SourceConfig
    state: SourceState | None


def source_lines(config: Config, store: Store | None) -> list[SourceLine]:
    states = store.source_states() if store is not None else {}
    lines = []
    for source in config.sources:
        state = states.get(source.name)
        if state is not None and state.url != stored_url(source):
            state = None  # pointed elsewhere: starts afresh on the next fetch
        lines.append(SourceLine(source, state))
    return lines


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if moment else "never"


def render_sources(lines: Sequence[SourceLine], now: datetime) -> str:
    """``feedsvc sources`` as plain text, one block per source."""
    if not lines:
        return "no remote sources configured ([[sources]] in config.toml)"
    out: list[str] = []
    for line in lines:
        cfg, st = line.config, line.state
        section = "(each entry's category)" if cfg.section is None else (
            " / ".join(cfg.section) or "(root)")
        out.append(f"{cfg.name}  →  {section}")
        if st is None:
            out.append(f"  url:          {masked(cfg.url)}")
            out.append("  last fetch:   never (due now)")
            continue
        if st.current_url:
            out.append(f"  url:          {masked(st.current_url)}  (moved permanently from "
                       f"{masked(cfg.url)})")
        else:
            out.append(f"  url:          {masked(cfg.url)}")
        status = str(st.last_status) if st.last_status is not None else "-"
        out.append(f"  last fetch:   {_when(st.last_fetch)}, status {status}")
        out.append(f"  entries:      {st.entries}")
        out.append(f"  errors:       {st.errors} in a row" + (f": {st.last_error}"
                                                               if st.last_error else ""))
        if st.disabled:
            out.append(f"  DISABLED:     {st.disabled}")
        else:
            due = st.next_due
            left = "" if due is None or due > now else " (due now)"
            interval = f", every {st.interval:g} s" if st.interval else ""
            out.append(f"  next due:     {_when(due)}{left}{interval}")
        if st.note:
            out.append(f"  note:         {st.note}")
    return "\n".join(out)


def sources_json(lines: Sequence[SourceLine]) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    for line in lines:
        st = line.state
        docs.append({
            "name": line.config.name,
            "url": masked(line.config.url),
            "current_url": masked(st.current_url) if st and st.current_url else None,
            "section": None if line.config.section is None else list(line.config.section),
            "last_fetch": st.last_fetch.isoformat() if st and st.last_fetch else None,
            "status": st.last_status if st else None,
            "entries": st.entries if st else 0,
            "errors": st.errors if st else 0,
            "last_error": st.last_error if st else None,
            "next_due": st.next_due.isoformat() if st and st.next_due else None,
            "disabled": st.disabled if st else None,
            "note": st.note if st else None,
        })
    return docs


__all__ = ["SourceLine", "render_sources", "source_lines", "sources_json"]
