"""feedsvc: ingest seed articles and remote feeds into a store, publish Atom and RSS.

The library API, importable from here (each name loads its part of the
package on first use, so ``import feedsvc`` stays cheap for the command line)::

    from feedsvc import load_config, open_store, ingest_seeds, ingest_sources
    from feedsvc.publish import publish

The package reads like the pipeline: :mod:`feedsvc.seeds` and
:mod:`feedsvc.remote` ingest side by side, :mod:`feedsvc.store` keeps
everything, :mod:`feedsvc.publish` writes the feeds and pages,
:mod:`feedsvc.daemon` schedules it all and :mod:`feedsvc.cli` is the command
line.  (``publish`` is :func:`feedsvc.publish.publish`: the name at the top
is the package.)  The top-level modules (config, models, errors, clock, dedup, ...) are
the shared core all of them build on.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_API = {
    "load_config": "feedsvc.config",
    "Config": "feedsvc.config",
    "FeedsvcError": "feedsvc.errors",
    "open_store": "feedsvc.store",
    "Store": "feedsvc.store",
    "ingest_seeds": "feedsvc.seeds.ingest",
    "IngestReport": "feedsvc.seeds.ingest",
    "ingest_sources": "feedsvc.remote.ingest",
    "SourcesReport": "feedsvc.remote.ingest",
    "PublishReport": "feedsvc.publish",
    "hide_entry": "feedsvc.store.admin",
    "unhide_entry": "feedsvc.store.admin",
    "list_entries": "feedsvc.store.admin",
}

if TYPE_CHECKING:
    from .config import Config, load_config
    from .errors import FeedsvcError
    from .publish import PublishReport
    from .remote.ingest import SourcesReport, ingest_sources
    from .seeds.ingest import IngestReport, ingest_seeds
    from .store import Store, open_store
    from .store.admin import hide_entry, list_entries, unhide_entry


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'feedsvc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = [
    "Config",
    "FeedsvcError",
    "IngestReport",
    "PublishReport",
    "SourcesReport",
    "Store",
    "__version__",
    "hide_entry",
    "ingest_seeds",
    "ingest_sources",
    "list_entries",
    "load_config",
    "open_store",
    "unhide_entry",
]
