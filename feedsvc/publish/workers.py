"""Writing article pages, in two processes when many are due.

A publish that must render many pages (a first publish, a lost output
folder, a new way of rendering) shares the entries out by ``seq``: this
process writes one half while a forked one (:func:`in_two`, sharing what was
already read) writes the other through its own read-only connection, and
each share's result comes back to be marked published.  A process that runs
threads (a scheduler) never forks (:func:`can_fork`) and writes every page
itself.  Which pages are due, and what is marked, is decided in
:mod:`feedsvc.publish.publisher`.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..config import SiteConfig
from ..errors import FeedsvcError, PublishError, StoreError
from ..models import Section, SectionPath
from ..store import SQLiteStore, Store
from .output import OutputFolder, write
from .rendering import Skipped, render_page

__all__ = ["PageJob", "ShareResult", "can_fork", "in_two", "page_shares", "write_pages"]

#: How progress is reported: once per this many entries checked.
PROGRESS_STEP = 1000
#: Known pages missing on disk from which a second process is worth starting.
PARALLEL_MIN_PAGES = 2000


@dataclass(frozen=True, slots=True)
class PageJob:
    """Everything one process needs to write its share of the pages."""

    out: OutputFolder
    files: set[str]
    states: dict[str, int]
    site: SiteConfig
    sections: dict[SectionPath, Section]
    shares: int


@dataclass(slots=True)
class ShareResult:
    written: int = 0
    unchanged: int = 0
    published: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _write_share(job: PageJob, store: Store, share: int, result: ShareResult,
                 progress: Callable[[int], None] | None = None) -> None:
    """Write the pages of the entries whose ``seq % shares == share`` into ``result``.

    Staleness is decided from (seq, page, version) alone, so only the entries
    whose page must be written are loaded with their text."""
    due: list[int] = []
    rows = store.page_versions()
    for seq, page, version in rows:
        if seq % job.shares != share:
            continue
        if job.states.get(page) == version and page in job.files:
            result.unchanged += 1
        else:
            due.append(seq)
    # Progress counts every entry once: those not due (or another process's
    # share) are done as of now, the due ones as they are written.
    if progress is not None and len(rows) > len(due):
        progress(len(rows) - len(due))
    checked = 0
    for entry in store.iter_entries(due):
        checked += 1
        if progress is not None and checked % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
        data = render_page(entry, job.sections, job.site)
        if isinstance(data, Skipped):  # not marked published: tried again next time
            result.skipped.append(data)
            continue
        absent = entry.page not in job.files
        if write(job.out.page_path(entry.page), data, durable=False, known_absent=absent):
            result.written += 1
        else:
            result.unchanged += 1
        result.published.append((entry.page, entry.version))
    if progress is not None and checked % PROGRESS_STEP:
        progress(checked % PROGRESS_STEP)


def can_fork() -> bool:
    """Never a fork from a threaded process (a scheduler): a lock held by another
    thread at that moment would stay locked forever in the child."""
    return (os.cpu_count() or 1) > 1 and threading.active_count() == 1 \
        and "fork" in multiprocessing.get_all_start_methods()


class _Child:
    """``work()`` in a forked process (it shares what was read so far); its
    result, or its error, comes back through a pipe."""

    def __init__(self, work: Callable[[], object], where: Path) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=_child_main, args=(work, sender),
                                        name="feedsvc-publish", daemon=True)
        self._process.start()
        sender.close()
        self._where = where

    def result(self) -> Any:
        try:
            reply = self._receiver.recv()
        except EOFError:
            raise PublishError("a publishing process died", where=self._where) from None
        finally:
            self._receiver.close()
            self._process.join()
        if reply[0] == "error":
            kind = StoreError if reply[1] == StoreError.__name__ else PublishError
            raise kind(reply[2], where=reply[3])
        if reply[0] == "crash":
            raise RuntimeError(f"a publishing process failed:\n{reply[1]}")
        return reply[1]

    def kill(self) -> None:
        """Stopping (or failing): do not wait for the other half."""
        self._process.kill()
        self._receiver.close()
        self._process.join()


def _child_main(work: Callable[[], object], sender: Connection) -> None:
    reply: tuple[Any, ...]
    try:
        reply = ("ok", work())
    except FeedsvcError as exc:
        reply = ("error", type(exc).__name__, exc.message, exc.where)
    except BaseException:  # a bug: hand the traceback to the parent to report
        reply = ("crash", traceback.format_exc())
    sender.send(reply)
    sender.close()


def in_two(mine: Callable[[], object], theirs: Callable[[], object], where: Path) -> Any:
    """Run ``theirs`` in a second process while ``mine`` runs here; its result."""
    child = _Child(theirs, where)
    try:
        mine()
    except BaseException:
        child.kill()
        raise
    return child.result()


def page_shares(states: dict[str, int], files: set[str]) -> int:
    """Two processes for a bulk of pages (a first publish, a lost output
    folder, a new way of rendering), one otherwise: checking unchanged pages
    is cheap, and a second process would read every entry once more."""
    if not can_fork():
        return 1
    missing = sum(1 for page in states if page not in files)
    return 2 if not states or missing >= PARALLEL_MIN_PAGES else 1


def _own_share(job: PageJob, db: Path, share: int) -> ShareResult:
    """A second process's share of the pages, read through its own connection."""
    result = ShareResult()
    with SQLiteStore.open(db, site=job.site, readonly=True) as store:
        _write_share(job, store, share, result)
    return result


def write_pages(job: PageJob, store: Store, results: list[ShareResult],
                progress: Callable[[int], None] | None) -> None:
    """Write every page that needs it; each share's result goes into ``results``
    as soon as it exists, so that what is done can be marked even after a failure."""
    mine = ShareResult()
    results.append(mine)
    if job.shares == 1:
        _write_share(job, store, 0, mine, progress)
        return
    results.append(in_two(lambda: _write_share(job, store, 0, mine, progress),
                          lambda: _own_share(job, store.path, 1), job.out.root))
