"""feedsvc: ingest seed articles and remote feeds into SQLite, publish Atom and RSS."""

from __future__ import annotations

__version__ = "0.1.0"
