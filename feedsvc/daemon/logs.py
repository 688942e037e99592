"""The daemon's log lines: plain text as the command line sets them up, or JSON.

``feedsvc run --log-format json`` writes one JSON object per line for log
collectors (:class:`JsonFormatter`); :func:`use_log_format` switches
feedsvc's handlers and routes the scheduler library's and the watcher's
warnings through them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors.

    Fields passed as ``extra={"feedsvc": {...}}`` (job name, counts, duration)
    become top-level keys.
    """

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(getattr(record, "feedsvc", None) or {})
        if record.exc_info:
            doc["traceback"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def use_log_format(log_format: str) -> None:
    """Switch feedsvc's log handlers to ``text`` (as set up) or ``json``, and
    send the scheduler library's and the watcher's warnings through them."""
    ours = logging.getLogger("feedsvc")
    if log_format == "json":
        for handler in ours.handlers:
            handler.setFormatter(JsonFormatter())
    for name in ("apscheduler", "watchfiles"):
        lib = logging.getLogger(name)
        lib.handlers[:] = list(ours.handlers)
        lib.setLevel(max(logging.WARNING, ours.level))
        lib.propagate = False


__all__ = ["JsonFormatter", "use_log_format"]
