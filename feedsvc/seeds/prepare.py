"""Read, hash, parse and fingerprint seed files: the store-free half of ingest.

Everything here is independent of the store, so for a large batch it runs
in a separate worker process while the main process makes the decisions and
writes (SQLite has one writer anyway).  On two cores this overlaps the two
halves; the results travel in small chunks with a bounded look-ahead, so
memory stays flat however large the folder is.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import signal
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult

from .. import dedup
from ..errors import SeedError
from ..localread import read_regular_file
from ..models import Article
from ..store import Encoded
from .parse import ParseOptions, parse_seed
from .scan import SeedFile

#: Files handed to the worker at a time, and chunks kept in flight.
CHUNK = 128
LOOKAHEAD = 16
#: Below this many files a worker process costs more than it saves.
POOL_MIN_FILES = 2000


@dataclass(frozen=True, slots=True)
class Prepared:
    """One seed file read and parsed: an article, or why it was rejected."""

    file: SeedFile
    raw_hash: bytes  # b"" when the file could not be read at all
    article: Article | None
    fingerprint: dedup.Fingerprint | None
    problem: str | None
    encoded: Encoded | None = None  # the store's encoding, computed here off the writer
    #: the file could not be read (gone, unreadable, no longer a regular file):
    #: no verdict on its content, so nothing is remembered and the next scan retries it
    unread: bool = False


class _Unread(Exception):
    """Reading the file failed; :attr:`args` [0] says why."""


def _read(f: SeedFile, max_bytes: int) -> bytes:
    if f.size > max_bytes:
        raise SeedError(f"too large ({f.size} bytes, limit {max_bytes})", where=f.relpath)
    try:
        # What the scan saw as a file is read only if it still is one: a link
        # put in its place is not followed, a FIFO does not block the run.
        data = read_regular_file(f.path, max_bytes + 1, follow_links=f.followed)
    except OSError as exc:
        raise _Unread(f"cannot read: {exc.strerror} (tried again at the next scan)") from None
    if len(data) > max_bytes:
        raise SeedError(f"too large (more than {max_bytes} bytes)", where=f.relpath)
    return data


def prepare(f: SeedFile, options: ParseOptions) -> Prepared:
    """Read one file and parse it; a bad file gives a problem, never an exception."""
    try:
        data = _read(f, options.max_bytes)
    except SeedError as exc:
        return Prepared(f, b"", None, None, exc.message)
    except _Unread as exc:
        return Prepared(f, b"", None, None, str(exc), unread=True)
    raw_hash = hashlib.sha256(data).digest()
    try:
        article = parse_seed(data, name=f.relpath, options=options)
    except SeedError as exc:
        return Prepared(f, raw_hash, None, None, exc.message)
    fp = dedup.fingerprint(article)
    return Prepared(f, raw_hash, article, fp, None, Encoded.of(article, fp.signature))


_worker_options: ParseOptions | None = None


def _init_worker(options: ParseOptions) -> None:
    global _worker_options  # per-process state of a pool worker
    _worker_options = options
    # Ctrl-C reaches the whole process group; the main process decides what
    # to do about it, the worker just goes away with the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: What crosses the process boundary: plain tuples, bytes and strings only,
#: which pickle several times faster than dataclasses and numpy arrays.
_Wire = tuple[bytes, tuple[object, ...] | None, bytes, tuple[str, str, bytes] | None,
              str | None, bool]


def _to_wire(p: Prepared) -> _Wire:
    a, fp, enc = p.article, p.fingerprint, p.encoded
    if a is None or fp is None or enc is None:
        return (p.raw_hash, None, b"", None, p.problem, p.unread)
    fields = (a.section, a.title, a.authors, a.credit, a.paragraphs)
    return (p.raw_hash, fields, fp.content_hash, (enc.authors, enc.paragraphs, enc.signature),
            None, False)


def _from_wire(f: SeedFile, wire: _Wire) -> Prepared:
    raw_hash, fields, content_hash, encoded, problem, unread = wire
    if fields is None or encoded is None:
        return Prepared(f, raw_hash, None, None, problem, unread=unread)
    article = Article(*fields)  # type: ignore[arg-type]
    signature = dedup.signatures_from_bytes(encoded[2], 1)[0]
    return Prepared(f, raw_hash, article, dedup.Fingerprint(content_hash, signature), None,
                    Encoded(*encoded))


def _prepare_chunk(files: Sequence[SeedFile]) -> list[_Wire]:
    assert _worker_options is not None
    return [_to_wire(prepare(f, _worker_options)) for f in files]


def prepared(
    files: Sequence[SeedFile], options: ParseOptions, *, workers: int = 1
) -> Iterator[Prepared]:
    """``prepare`` every file, in order; in a worker process for large batches.

    The pool is started with ``spawn``: the caller may be the daemon, whose
    scheduler threads make ``fork`` unsafe.
    """
    if workers < 1 or len(files) < POOL_MIN_FILES:
        for f in files:
            yield prepare(f, options)
        return
    chunks = (files[i : i + CHUNK] for i in range(0, len(files), CHUNK))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(options,)) as pool:
        pending: deque[tuple[Sequence[SeedFile], AsyncResult[list[_Wire]]]] = deque()
        for chunk in chunks:
            pending.append((chunk, pool.apply_async(_prepare_chunk, (chunk,))))
            if len(pending) > LOOKAHEAD:
                done, result = pending.popleft()
                yield from map(_from_wire, done, result.get())
        while pending:
            done, result = pending.popleft()
            yield from map(_from_wire, done, result.get())
