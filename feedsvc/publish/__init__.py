"""Store → files on disk: per-section Atom and RSS feeds, indexes and article pages.

:mod:`.feeds` and :mod:`.pages` render (pure), :mod:`.rendering` keeps one
bad entry from stopping a publish, :mod:`.publisher` decides what to write,
:mod:`.workers` writes many pages in two processes, and :mod:`.output` keeps
every path inside the output folder and writes through :mod:`feedsvc.atomic`,
which leaves identical files alone.
"""

from __future__ import annotations

from .output import OutputFolder
from .publisher import PublishReport, publish

__all__ = ["OutputFolder", "PublishReport", "publish"]
