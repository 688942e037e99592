"""Remote sources: fetch the feeds that are due, ingest their entries.

Three steps, so that no network wait ever holds the writer lock:

1. :func:`read_plans` (read only): which sources are due, with the
   validators and entry keys the store holds for each;
2. :func:`fetch_plans` (no store at all): fetch, and in the same worker
   thread parse and prepare each feed (sanitized HTML, keys, fingerprints of
   the entries that are new or changed: :mod:`.prepare`);
3. :func:`apply_fetched` (writes; each source all or nothing in a savepoint,
   many sources to a transaction): each entry is unchanged, a revision, a
   duplicate of an entry that arrived another way, or new; then the source's
   state (validators, errors, next due time): :mod:`.apply`.

:func:`ingest_sources` runs the three with step 3 overlapping step 2.

Identity of an entry within a source is its key (:func:`.keys.assign_keys`).
An entry new to a source is first looked up by its normalised link, then by
the seeds' own exact and near-duplicate tests (only for a body with enough
text to judge: :func:`dedup.enough_text`); a match from another source (or a
seed) records this source beside it and publishes nothing new.  A match from
the same source is a revision when found by link or by the exact text; a
near-duplicate text only revises an entry the text identifies (hash keys) or
one whose feed changed its kind of key: another guid is another item.  Only the source
an entry came from revises it, so two feeds carrying one article never take
turns rewriting it.  Nothing is ever deleted: an entry that leaves its feed
stays in the store.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from ..clock import Clock, system_clock
from ..config import Config, SourceConfig
from ..errors import FetchError, StoreError
from ..store import SourceState, Store, open_store
from .apply import Applier
from .fetch import Fetcher, Outcome, user_agent
from .plans import Fetched, Plan, SourceReport, SourcesReport, stored_url
from .prepare import Parsers, Prepare, prepare

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- planning


def read_plans(store: Store | None, config: Config, *, names: Iterable[str] | None = None,
               now: datetime, force: bool = False) -> tuple[list[Plan], list[SourceReport]]:
    """The sources to fetch now (all of them with ``force``, except disabled
    ones), and reports for those skipped.  ``store`` None: nothing known yet."""
    wanted = None if names is None else set(names)
    states = store.source_states() if store is not None else {}
    due: list[tuple[SourceConfig, SourceState]] = []
    skipped: list[SourceReport] = []
    for source in config.sources:
        if wanted is not None and source.name not in wanted:
            continue
        state = states.get(source.name)
        if state is None or state.url != stored_url(source):
            state = SourceState(name=source.name, url=stored_url(source))  # new, or moved
        if state.disabled:
            skipped.append(SourceReport(source.name, "disabled", state.last_status, {},
                                        state.disabled, None))
            continue
        if not force and state.next_due is not None and state.next_due > now:
            skipped.append(SourceReport(source.name, "not-due", state.last_status, {}, None,
                                        state.next_due))
            continue
        due.append((source, state))
    # One query for all when many are due, one per source when few are.
    everything = store.known_hashes(None) if store is not None and len(due) > 20 else None
    plans: list[Plan] = []
    for source, state in due:
        if everything is not None:
            known = everything.get(source.name, {})
        else:
            known = store.known_hashes(source.name).get(source.name, {}) if store else {}
        plans.append(Plan(source, state, known, now))
    return plans, skipped


# ----------------------------------------------------------------------------- fetching


def fetch_one(fetcher: Fetcher, plan: Plan, clock: Clock, threshold: float,
              parse: Prepare = prepare) -> Fetched:
    """Fetch and prepare one source (runs in a worker thread; no store)."""
    response = fetcher.fetch(plan.request)
    now = clock()
    if response.outcome is not Outcome.OK or response.body is None:
        return Fetched(plan, response, now)
    body_hash = hashlib.sha256(response.body).digest()
    if body_hash == plan.state.body_hash:
        return Fetched(plan, response, now, body_hash)  # same bytes: nothing to parse
    try:
        meta, items, filtered, notes = parse(plan.source, response.body, response.url,
                                             plan.known, now, threshold, response.content_type)
    except FetchError as exc:
        return Fetched(plan, response, now, body_hash, error=exc.message)
    except Exception as exc:  # a bug met on one feed: recorded and retried, the run goes on
        log.exception("%s: internal error while reading the feed", plan.source.name)
        return Fetched(plan, response, now, body_hash,
                       error=f"internal error while reading the feed: {type(exc).__name__}")
    return Fetched(plan, response, now, body_hash, meta, tuple(items), filtered, tuple(notes))


def fetch_plans(plans: Sequence[Plan], config: Config, *, clock: Clock = system_clock,
                done: Callable[[int, Fetched], None] | None = None,
                cancel: threading.Event | None = None,
                parsers: Parsers | None = None) -> list[Fetched]:
    """Fetch and prepare every plan (bounded concurrency, no store): the
    results, in the plans' order.  With ``done``, each plan's index and result
    go to it instead, as they are ready, from a worker thread, and the list
    returned is empty: a run of hundreds of feeds would otherwise hold every
    parsed entry until the last one is stored.  Once ``cancel`` is set, the
    fetches not yet begun are skipped."""
    if not plans:
        return []  # not even a client: building one costs a third of a second
    results: list[Fetched | None] = [None] * len(plans)
    parse = parsers.prepare if parsers is not None else prepare
    with Fetcher(config.fetch, user_agent(config.site.base_url)) as fetcher:

        def one(index: int) -> None:
            if cancel is not None and cancel.is_set():
                return
            fetched = fetch_one(fetcher, plans[index], clock, config.dedup.threshold, parse)
            if done is None:
                results[index] = fetched
            else:
                done(index, fetched)

        fetcher.run_all([p.request.url for p in plans], one)
    return [r for r in results if r is not None]


# ----------------------------------------------------------------------------- storing


def _summarise(reports: Sequence[SourceReport], skipped: Sequence[SourceReport],
               started: float) -> SourcesReport:
    everything = tuple(sorted([*reports, *skipped], key=lambda r: r.name))
    outcomes = Counter(r.outcome for r in everything)
    return SourcesReport(everything, time.monotonic() - started, dict(outcomes))


def _run_counts(reports: Iterable[SourceReport]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for r in reports:
        total.update(r.counts)
        total[f"sources {r.outcome}"] += 1
    return dict(total)


def fetch_sources(config: Config, names: Iterable[str], *, clock: Clock = system_clock
                  ) -> tuple[list[Fetched], list[SourceReport]]:
    """Steps 1 and 2 for the named sources, with the store only read (the
    daemon does this before it takes the writer lock)."""
    store = read_store(config)
    try:
        plans, skipped = read_plans(store, config, names=names, now=clock())
    finally:
        if store is not None:
            store.close()
    return fetch_plans(plans, config, clock=clock), skipped


#: Sources stored per transaction: a commit costs milliseconds, as much as
#: storing a 304's state; each source still stands or falls alone (a savepoint).
PER_TRANSACTION = 20
#: At most this many sources to a transaction when they are stored as they arrive.
MAX_PER_TRANSACTION = 100


def _groups(items: Iterable[Fetched], size: int) -> Iterator[list[Fetched]]:
    group: list[Fetched] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def apply_fetched(store: Store, config: Config, fetched: Iterable[Fetched],
                  skipped: Sequence[SourceReport] = (), *, rng: random.Random | None = None,
                  progress: Callable[[int], None] | None = None) -> SourcesReport:
    """Step 3: store every fetched source as they come, :data:`PER_TRANSACTION`
    to a transaction (gathered before it opens: no transaction waits for the
    network)."""
    return _apply_groups(store, config, _groups(fetched, PER_TRANSACTION), skipped, rng=rng,
                         progress=progress)


def _apply_groups(store: Store, config: Config, groups: Iterable[Sequence[Fetched]],
                  skipped: Sequence[SourceReport] = (), *, rng: random.Random | None = None,
                  progress: Callable[[int], None] | None = None) -> SourcesReport:
    """:func:`apply_fetched`, one transaction per group."""
    started = time.monotonic()
    applier = Applier(store, config, rng or random.Random())
    reports: list[SourceReport] = []
    with store.run("feeds", lambda: _run_counts(reports)):
        for group in groups:
            with store.batch():
                done = [applier.apply(f) for f in group]
            reports += done
            if progress is not None:
                progress(len(done))
    return _summarise(reports, skipped, started)


# ----------------------------------------------------------------------------- all at once


def ingest_sources(store: Store, config: Config, *, names: Iterable[str] | None = None,
                   force: bool = False, clock: Clock = system_clock,
                   rng: random.Random | None = None,
                   progress: Callable[[int], None] | None = None) -> SourcesReport:
    """Fetch every due source (``force``: every enabled one) and store what it
    brought; the store is written while later sources are still being fetched."""
    plans, skipped = read_plans(store, config, names=names, now=clock(), force=force)
    arrived: queue.Queue[tuple[int, Fetched] | BaseException | None] = queue.Queue()
    cancel = threading.Event()

    def fetch_all() -> None:
        try:
            fetch_plans(plans, config, clock=clock, done=lambda i, f: arrived.put((i, f)),
                        cancel=cancel, parsers=parsers)
        except BaseException as exc:  # handed to the writing thread to raise there
            arrived.put(exc)
        finally:
            arrived.put(None)

    def arrivals() -> Iterator[list[Fetched]]:
        # Stored in the order of the configuration, whatever order the fetches
        # end in: which source an entry is first seen in (its origin) must not
        # depend on network timing.  Later ones wait in memory meanwhile.
        # Each group (one transaction) is what is ready when the writer asks,
        # from PER_TRANSACTION sources up: a writer slower than the network
        # commits rarely, a faster one waits only for that many -- until fewer
        # than that are still to come: then it stores what is ready at once,
        # so that it does not store the last group alone after the others end.
        waiting: dict[int, Fetched] = {}
        following = 0
        finished = False
        ready: list[Fetched] = []
        while not finished:
            got = arrived.get()
            while True:
                if got is None:
                    finished = True
                    break
                if isinstance(got, BaseException):
                    raise got
                waiting[got[0]] = got[1]
                try:
                    got = arrived.get_nowait()
                except queue.Empty:
                    break
            while following in waiting:
                ready.append(waiting.pop(following))
                following += 1
            if ready and (len(ready) >= PER_TRANSACTION
                          or len(plans) - following < PER_TRANSACTION):
                yield from _groups(ready, MAX_PER_TRANSACTION)
                ready = []
        ready += (waiting[i] for i in sorted(waiting))  # after a cancel: what came
        yield from _groups(ready, MAX_PER_TRANSACTION)

    worker = threading.Thread(target=fetch_all, name="feedsvc-fetch-all", daemon=True)
    with Parsers(len(plans)) as parsers:  # before the first thread: it may fork
        worker.start()
        try:
            return _apply_groups(store, config, arrivals(), skipped, rng=rng,
                                 progress=progress)
        finally:
            cancel.set()  # stopped early: the fetches not begun are not begun
            worker.join()


def enable_source(store: Store, name: str) -> bool:
    """Re-enable a source disabled by a 410; True if it was disabled."""
    return store.enable_source(name)


def read_store(config: Config) -> Store | None:
    """The store opened read-only, or None when there is none yet."""
    if not Path(config.store.path).is_file():
        return None
    try:
        return open_store(config, readonly=True)
    except StoreError:
        return None


__all__ = [
    "SourceReport",
    "SourcesReport",
    "apply_fetched",
    "enable_source",
    "fetch_one",
    "fetch_plans",
    "fetch_sources",
    "ingest_sources",
    "read_plans",
    "read_store",
]
