"""Store → files on disk: per-section Atom and RSS feeds, indexes and article pages.

:mod:`.feeds` and :mod:`.pages` render (pure), :mod:`.rendering` keeps one
bad entry from stopping a publish, and :mod:`.publisher` decides what to
write, through :mod:`feedsvc.atomic`, which leaves identical files alone.
"""

from __future__ import annotations

from .publisher import OutputFolder, PublishReport, publish

__all__ = ["OutputFolder", "PublishReport", "publish"]
