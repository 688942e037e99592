"""Fetching feed documents politely, and surviving whatever the network does.

:class:`Fetcher` turns :class:`Request` values (a URL and the validators
stored for it) into :class:`Response` values; it never raises for anything a
server or the network can do: every fault becomes a response with an
``error``.  Bytes only: parsing is :mod:`feedsvc.remote`'s job.

* httpx, one shared connection pool; connect and read timeouts, and a total
  bound on each fetch (redirects included) checked before every hop and
  after every chunk of the body, so a slowly trickling body is cut off too;
* the body is streamed and decoded here (gzip, deflate) with the size cap
  applied to the decoded bytes as they come, so neither a huge body nor a
  compression bomb is ever held in memory beyond the cap;
* an honest User-Agent, ``feedsvc/<version> (+<site base URL>)``;
* conditional GET (``If-None-Match``, ``If-Modified-Since``);
* redirects followed by hand: 301/308 give the new permanent URL (only when
  every hop was permanent), 302/303/307 are followed and forgotten, a loop
  or more than :data:`MAX_REDIRECTS` hops is an error;
* at most ``concurrency`` fetches in flight and ``per_host`` per host.

The politeness policy (backoff, Retry-After, cache lifetimes) is a set of
small pure functions at the end of the module.
"""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import httpx

from . import __version__
from .config import FetchConfig

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})

ACCEPT = ("application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
          "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")


def user_agent(base_url: str) -> str:
    """``feedsvc/0.1.0 (+https://news.example.org/)``: who we are and where to look."""
    return f"feedsvc/{__version__} (+{base_url})"


class Outcome(StrEnum):
    OK = "ok"  # a body to parse
    NOT_MODIFIED = "not-modified"  # 304: nothing to parse
    GONE = "gone"  # 410: stop polling until the operator says otherwise
    FAILED = "failed"  # anything else: try again later


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Response:
    outcome: Outcome
    url: str  # the URL that finally answered
    status: int | None = None  # the last HTTP status; None: no answer (timeout, refused …)
    permanent_url: str | None = None  # moved for good (301/308 all the way): use from now on
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    max_age: float | None = None  # seconds the answer says it stays fresh
    retry_after: float | None = None  # seconds the server asked us to wait (429, 503)
    error: str | None = None
    elapsed: float = 0.0


class _Failure(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# ----------------------------------------------------------------------------- decoding


class _Body:
    """Collects a body: decodes gzip/deflate as it arrives, enforces the cap on
    the decoded size and the total time bound."""

    def __init__(self, encoding: str, limit: int, deadline: float) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z: zlib._Decompress | None = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise _Failure(f"unsupported content encoding {encoding!r}")
        self._deflate = encoding == "deflate"
        self._first = True
        self._left = limit
        self._limit = limit
        self._deadline = deadline
        self._parts: list[bytes] = []

    def _keep(self, data: bytes) -> None:
        self._left -= len(data)
        if self._left < 0:
            raise _Failure(f"body larger than {self._limit} bytes: cut off, not read")
        self._parts.append(data)

    def add(self, raw: bytes) -> None:
        if time.monotonic() > self._deadline:
            raise _Failure("took longer than the total time bound: cut off")
        if self._z is None:
            self._keep(raw)
            return
        try:
            if self._first and self._deflate:
                self._first = False
                try:
                    probe = zlib.decompressobj()
                    out = probe.decompress(raw, self._left + 1)
                    self._z = probe
                except zlib.error:  # servers send raw deflate as often as zlib
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = self._z.decompress(raw, self._left + 1)
            else:
                out = self._z.decompress(raw, self._left + 1)
            self._keep(out)
            while self._z.unconsumed_tail:
                self._keep(self._z.decompress(self._z.unconsumed_tail, self._left + 1))
        except zlib.error as exc:
            raise _Failure(f"corrupt compressed body: {exc}") from None

    def bytes(self) -> bytes:
        if self._z is not None:
            self._keep(self._z.flush())
        return b"".join(self._parts)


# ----------------------------------------------------------------------------- fetching


class Fetcher:
    """An HTTP client shared by all fetches of one run; close it when done."""

    def __init__(self, config: FetchConfig, agent: str, *,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._client = httpx.Client(
            headers={"User-Agent": agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
            follow_redirects=False,
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            limits=httpx.Limits(max_connections=config.concurrency,
                                max_keepalive_connections=config.concurrency),
            transport=transport,
        )
        self._hosts: dict[str, threading.Semaphore] = defaultdict(
            lambda: threading.Semaphore(config.per_host))
        self._hosts_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._hosts_lock:
            slot = self._hosts[host]
        with slot:
            yield

    def fetch(self, request: Request) -> Response:
        """One fetch, redirects included; never raises for network or server faults."""
        started = time.monotonic()
        if request.url.startswith("file:"):
            return self._file(request, started)
        deadline = started + self.config.total_timeout
        url, permanent, seen = request.url, True, {request.url}
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                with self._slot(url):
                    result = self._one(url, request, deadline, started)
                if isinstance(result, Response):
                    moved = url if permanent and url != request.url else None
                    return _replace_url(result, url, moved)
                status, location = result
                target = urljoin(url, location)
                if target in seen:
                    raise _Failure(f"redirect loop: {url} → {target}", status)
                seen.add(target)
                permanent = permanent and status in _PERMANENT
                url = target
            raise _Failure(f"more than {MAX_REDIRECTS} redirects", status)
        except _Failure as exc:
            return Response(Outcome.FAILED, url, status=exc.status, error=exc.message,
                            elapsed=time.monotonic() - started)

    def _one(self, url: str, request: Request, deadline: float, started: float
             ) -> Response | tuple[int, str]:
        """One request: a final response, or (status, location) of a redirect."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Failure("took longer than the total time bound")
        cfg = self.config
        timeout = httpx.Timeout(min(cfg.read_timeout, left), connect=min(cfg.connect_timeout,
                                                                          left))
        headers = {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        try:
            with self._client.stream("GET", url, headers=headers, timeout=timeout) as r:
                return self._answer(r, url, deadline, started)
        except httpx.TimeoutException as exc:
            raise _Failure(f"timed out ({type(exc).__name__})") from None
        except httpx.TooManyRedirects as exc:  # pragma: no cover - redirects are ours
            raise _Failure(str(exc)) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _Failure(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None

    def _answer(self, r: httpx.Response, url: str, deadline: float, started: float
                ) -> Response | tuple[int, str]:
        status = r.status_code
        h = r.headers
        if not 200 <= status < 300:
            _drain(r, deadline)
        if status in _REDIRECTS:
            location = h.get("location")
            if not location:
                raise _Failure(f"HTTP {status} without a Location", status)
            return status, location
        now = datetime.now(UTC)
        common = {"url": url, "status": status, "etag": h.get("etag"),
                  "last_modified": h.get("last-modified"),
                  "max_age": cache_lifetime(h, now)}
        if status == 304:
            return Response(Outcome.NOT_MODIFIED, elapsed=time.monotonic() - started, **common)
        if status == 410:
            return Response(Outcome.GONE, error="HTTP 410 Gone: the feed was removed",
                            elapsed=time.monotonic() - started, **common)
        if not 200 <= status < 300:
            # An HTTP-date is read against the server's own clock (Date), if it sent it.
            said = _http_date(h.get("date", "")) or now
            wait = retry_after(h.get("retry-after"), said) if status in (429, 503) else None
            return Response(Outcome.FAILED, error=f"HTTP {status} {r.reason_phrase}".strip(),
                            retry_after=wait, elapsed=time.monotonic() - started, **common)
        limit = self.config.max_bytes
        encoding = h.get("content-encoding", "")
        length = h.get("content-length", "")
        if not encoding and length.isdigit() and int(length) > limit:
            raise _Failure(f"body of {length} bytes is larger than {limit}: not read", status)
        body = _Body(encoding, limit, deadline)
        try:
            for chunk in r.iter_raw():
                body.add(chunk)
        except _Failure as exc:
            raise _Failure(exc.message, status) from None
        return Response(Outcome.OK, body=body.bytes(), content_type=h.get("content-type"),
                        elapsed=time.monotonic() - started, **common)

    def _file(self, request: Request, started: float) -> Response:
        path = Path(url2pathname(urlsplit(request.url).path))
        limit = self.config.max_bytes
        try:
            with path.open("rb") as fh:
                data = fh.read(limit + 1)
        except OSError as exc:
            return Response(Outcome.FAILED, request.url, error=f"cannot read: {exc.strerror}",
                            elapsed=time.monotonic() - started)
        if len(data) > limit:
            return Response(Outcome.FAILED, request.url, error=f"file larger than {limit} "
                            "bytes: not read", elapsed=time.monotonic() - started)
        return Response(Outcome.OK, request.url, body=data, elapsed=time.monotonic() - started)

    def run_all(self, urls: Sequence[str], work: Callable[[int], None]) -> None:
        """``work(i)`` for every index of ``urls`` in worker threads, at most
        ``concurrency`` at once, started round-robin over hosts so that one
        busy host's ``per_host`` bound does not hold up the others.  The
        first exception a call raises is raised here, after all have ended."""
        if not urls:
            return
        workers = min(self.config.concurrency, len(urls))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feedsvc-fetch") as pool:
            futures = [pool.submit(work, i) for i in interleave_hosts(urls)]
        for future in futures:
            future.result()

    def fetch_many(self, requests: Sequence[Request]) -> list[Response]:
        """Every request, as :meth:`run_all` schedules them; responses in order."""
        results: list[Response | None] = [None] * len(requests)

        def run(index: int) -> None:
            results[index] = self.fetch(requests[index])

        self.run_all([r.url for r in requests], run)
        return [r for r in results if r is not None]


#: The most of an unwanted body (an error page, a redirect's note) read to
#: keep the connection for the next request; a longer one closes it.
DRAIN_BYTES = 65_536


def _drain(r: httpx.Response, deadline: float) -> None:
    """Read and drop a short body: a response closed unread closes its
    connection, and a new one costs more than the 304 it served."""
    length = r.headers.get("content-length", "")
    if length.isdigit() and int(length) > DRAIN_BYTES:
        return
    seen = 0
    try:
        for chunk in r.iter_raw():
            seen += len(chunk)
            if seen > DRAIN_BYTES or time.monotonic() > deadline:
                return
    except httpx.HTTPError:
        return  # only a courtesy to the connection pool


def _replace_url(response: Response, url: str, moved: str | None) -> Response:
    if response.url == url and moved is None:
        return response
    return Response(response.outcome, url, response.status, moved, response.body,
                    response.content_type, response.etag, response.last_modified,
                    response.max_age, response.retry_after, response.error, response.elapsed)


def interleave_hosts(urls: Sequence[str]) -> list[int]:
    """Indexes of ``urls`` ordered round-robin over their hosts."""
    queues: dict[str, deque[int]] = defaultdict(deque)
    for i, url in enumerate(urls):
        queues[(urlsplit(url).hostname or "").lower()].append(i)
    order: list[int] = []
    while queues:
        for host in list(queues):
            order.append(queues[host].popleft())
            if not queues[host]:
                del queues[host]
    return order


# ----------------------------------------------------------------------------- policy


def _http_date(value: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    moment = _http_date(value)
    return max(0.0, (moment - now).total_seconds()) if moment else None


def cache_lifetime(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the answer stays fresh: ``Cache-Control: max-age`` (``s-maxage``
    is for shared caches), else ``Expires`` minus ``Date`` (or now)."""
    control = headers.get("cache-control", "")
    for directive in control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().strip('"').isdigit():
            return float(value.strip().strip('"'))
    expires = headers.get("expires")
    if expires:
        moment = _http_date(expires)
        if moment is None:
            return 0.0  # an invalid Expires means "already expired"
        date = _http_date(headers.get("date", "")) or now
        return max(0.0, (moment - date).total_seconds())
    return None


def effective_interval(configured: float, hints: Sequence[float | None], config: FetchConfig
                       ) -> float:
    """The source's interval raised by cache hints (max-age, Expires, RSS ttl),
    within ``[min_interval, max_interval]``.  A hint never shortens it."""
    wanted = max([configured, *(h for h in hints if h is not None)])
    return float(max(config.min_interval, min(config.max_interval, wanted)))


def backoff(errors: int, interval: float, config: FetchConfig, rng: random.Random) -> float:
    """Seconds before the next try after ``errors`` consecutive failures:
    the interval doubled per failure after the first, with ±20 % jitter so
    that sources failing together do not retry together, up to the cap."""
    doubled = interval * 2.0 ** min(max(errors - 1, 0), 32)
    return min(float(config.backoff_cap), doubled * rng.uniform(0.8, 1.2))


__all__ = [
    "MAX_REDIRECTS",
    "Fetcher",
    "Outcome",
    "Request",
    "Response",
    "backoff",
    "cache_lifetime",
    "effective_interval",
    "interleave_hosts",
    "retry_after",
    "user_agent",
]
