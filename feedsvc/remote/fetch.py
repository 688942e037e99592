"""Fetching feed documents politely, and surviving whatever the network does.

:class:`Fetcher` turns :class:`Request` values (a URL and the validators
stored for it) into :class:`Response` values; it never raises for anything a
server or the network can do: every fault becomes a response with an
``error``.  Bytes only: parsing is :mod:`feedsvc.remote.parse`'s job.

* libcurl (pycurl) moves the bytes, each fetching thread with its own handle
  and kept connections; a connect timeout, a read timeout (nothing received
  for that long) and a total bound on each fetch (redirects included),
  checked before every hop, after every chunk of the body and whenever the
  transfer waits, so a slowly trickling body is cut off too;
* the body is streamed and decoded as it comes (gzip, deflate) with the
  size cap applied to the decoded bytes (:mod:`.exchange`), so neither a
  huge body nor a compression bomb is ever held in memory beyond the cap;
* an honest User-Agent, ``feedsvc/<version> (+<site base URL>)``;
* conditional GET (``If-None-Match``, ``If-Modified-Since``);
* redirects followed by hand: 301/308 give the new permanent URL (only when
  every hop was permanent), 302/303/307 are followed and forgotten, a loop
  or more than :data:`MAX_REDIRECTS` hops is an error;
* at most ``concurrency`` fetches in flight and ``per_host`` per host.

The politeness policy (backoff, Retry-After, cache lifetimes, the order of
hosts) is a set of small pure functions in :mod:`.politeness`.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import certifi
import pycurl

from .. import __version__
from ..config import FetchConfig
from ..localread import read_regular_file
from ..urls import origin, split_credentials, without_credentials
from .exchange import DRAIN_BYTES, Exchange, Failure
from .politeness import cache_lifetime, http_date, interleave_hosts, retry_after

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
class Credentials:
    """HTTP Basic credentials of a source, and the one origin they are sent to
    (a redirect to another host or scheme does not get them)."""

    user: str
    password: str = field(repr=False)
    origin: tuple[str, str, int | None] | None

    @classmethod
    def of(cls, url: str) -> Credentials | None:
        """The credentials written into ``url`` (``https://user:pw@host/…``), if any."""
        bare, auth = split_credentials(url)
        return None if auth is None else cls(auth[0], auth[1], origin(bare))


@dataclass(frozen=True, slots=True)
class Request:
    url: str  # never with credentials in it: they travel in ``credentials``
    etag: str | None = None
    last_modified: str | None = None
    credentials: Credentials | None = None


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


# ----------------------------------------------------------------------------- fetching


class _Handles(threading.local):
    """Each fetching thread's own libcurl handles (a handle is used by one
    thread at a time); connections are kept per thread between requests."""

    easy: pycurl.Curl | None = None
    multi: pycurl.CurlMulti | None = None


class Fetcher:
    """An HTTP client shared by all fetches of one run; close it when done.

    libcurl (pycurl) moves the bytes: the transfer runs in C with the GIL
    released, and Python sees only header lines and body chunks.  A fetch
    costs a fifth of the CPU it does through a pure-Python client, which a
    run of hundreds of sources (most of them answering 304) feels.
    """

    def __init__(self, config: FetchConfig, agent: str) -> None:
        self.config = config
        self._agent = agent
        self._ca_bundle = certifi.where()  # a path, looked up once
        self._local = _Handles()
        self._all: list[pycurl.Curl | pycurl.CurlMulti] = []
        self._lock = threading.Lock()
        self._hosts: dict[str, threading.Semaphore] = defaultdict(
            lambda: threading.Semaphore(config.per_host))

    def close(self) -> None:
        with self._lock:
            handles, self._all = self._all, []
        for handle in handles:
            handle.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handles(self) -> tuple[pycurl.Curl, pycurl.CurlMulti]:
        local = self._local
        if local.easy is None or local.multi is None:
            local.easy, local.multi = pycurl.Curl(), pycurl.CurlMulti()
            with self._lock:
                self._all += [local.easy, local.multi]
        return local.easy, local.multi

    @contextmanager
    def _slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            slot = self._hosts[host]
        with slot:
            yield

    def fetch(self, request: Request) -> Response:
        """One fetch, redirects included; never raises for network or server faults."""
        started = time.monotonic()
        if request.url.startswith("file:"):
            return self._file(request, started)
        deadline = started + self.config.total_timeout
        # Credentials never ride in a URL: libcurl would send them to every
        # host a redirect leads to, and the URL is logged and stored.
        first, inline = split_credentials(request.url)
        if inline is not None and request.credentials is None:
            request = Request(first, request.etag, request.last_modified,
                              Credentials.of(request.url))
        url, permanent, seen = first, True, {first}
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                with self._slot(url):
                    exchange = self._exchange(url, request, deadline)
                result = self._answer(exchange, url, started)
                if isinstance(result, Response):
                    moved = url if permanent and url != first else None
                    return _replace_url(result, url, moved)
                status, location = result
                target = without_credentials(urljoin(url, location))
                if target in seen:
                    raise Failure(f"redirect loop: {url} → {target}", status)
                seen.add(target)
                permanent = permanent and status in _PERMANENT
                url = target
            raise Failure(f"more than {MAX_REDIRECTS} redirects", status)
        except Failure as exc:
            return Response(Outcome.FAILED, url, status=exc.status, error=exc.message,
                            elapsed=time.monotonic() - started)

    def _setup(self, easy: pycurl.Curl, url: str, request: Request, left: float,
               exchange: Exchange) -> None:
        easy.reset()  # options only: the connection cache stays
        headers = [f"Accept: {ACCEPT}", "Accept-Encoding: gzip, deflate"]
        if request.etag:
            headers.append(f"If-None-Match: {request.etag}")
        if request.last_modified:
            headers.append(f"If-Modified-Since: {request.last_modified}")
        setopt = easy.setopt
        setopt(pycurl.URL, url)
        setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        setopt(pycurl.NOSIGNAL, 1)  # timeouts without signals: safe in threads
        setopt(pycurl.USERAGENT, self._agent)
        setopt(pycurl.HTTPHEADER, headers)
        setopt(pycurl.FOLLOWLOCATION, 0)  # redirects are followed (and judged) by fetch()
        setopt(pycurl.CAINFO, self._ca_bundle)
        setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(min(self.config.connect_timeout, left) * 1000)))
        setopt(pycurl.TIMEOUT_MS, max(1, int(left * 1000) + 50))  # a backstop; see _exchange
        setopt(pycurl.HEADERFUNCTION, exchange.header)
        setopt(pycurl.WRITEFUNCTION, exchange.write)
        auth = request.credentials
        if auth is not None and auth.origin is not None and origin(url) == auth.origin:
            setopt(pycurl.HTTPAUTH, pycurl.HTTPAUTH_BASIC)
            setopt(pycurl.USERNAME, auth.user)
            setopt(pycurl.PASSWORD, auth.password)

    def _exchange(self, url: str, request: Request, deadline: float) -> Exchange:
        """One request, its response read (or refused) as far as is wanted.

        Driven through a multi handle so that this loop wakes when data comes
        or a bound is due: the read timeout (no byte for ``read_timeout``
        seconds once connected) and the total bound are enforced here, to
        the millisecond; libcurl keeps the connect timeout."""
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            raise _over_time(None)
        easy, multi = self._handles()
        exchange = Exchange(self.config.max_bytes, deadline, now)
        self._setup(easy, url, request, left, exchange)
        read_timeout = self.config.read_timeout
        multi.add_handle(easy)
        try:
            while True:
                while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                    pass
                _, done, failed = multi.info_read()
                if done or failed:
                    break
                now = time.monotonic()
                if now >= deadline:
                    raise _over_time(exchange.status)
                wait = deadline - now
                if easy.getinfo(pycurl.CONNECT_TIME) > 0 or easy.getinfo(pycurl.NUM_CONNECTS) == 0:
                    quiet = now - exchange.last  # connected (or reusing a connection)
                    if quiet >= read_timeout:
                        raise Failure(f"timed out: nothing received for {read_timeout:g} s",
                                      exchange.status)
                    wait = min(wait, read_timeout - quiet)
                else:
                    exchange.last = now  # still connecting: libcurl's connect timeout runs
                    wait = min(wait, read_timeout)
                multi.select(max(0.001, wait))
        finally:
            multi.remove_handle(easy)
        if failed:
            _, code, message = failed[0]
            if exchange.failure is not None:
                raise exchange.failure
            drained = code == pycurl.E_WRITE_ERROR and exchange.body is None \
                and exchange.drained > DRAIN_BYTES
            if not drained:
                if code == pycurl.E_OPERATION_TIMEDOUT:
                    if time.monotonic() >= deadline:
                        raise _over_time(exchange.status)
                    raise Failure(f"timed out ({message})", exchange.status)
                raise Failure(message or f"transfer failed (libcurl error {code})",
                              exchange.status)
        if exchange.status is None:
            raise Failure("no HTTP response")
        return exchange

    def _answer(self, x: Exchange, url: str, started: float) -> Response | tuple[int, str]:
        status = x.status
        assert status is not None
        h = x.headers
        if status in _REDIRECTS:
            location = h.get("location")
            if not location:
                raise Failure(f"HTTP {status} without a Location", status)
            return status, location
        now = datetime.now(UTC)
        common: dict[str, Any] = {"url": url, "status": status, "etag": h.get("etag"),
                                  "last_modified": h.get("last-modified"),
                                  "max_age": cache_lifetime(h, now)}
        if status == 304:
            return Response(Outcome.NOT_MODIFIED, elapsed=time.monotonic() - started, **common)
        if status == 410:
            return Response(Outcome.GONE, error="HTTP 410 Gone: the feed was removed",
                            elapsed=time.monotonic() - started, **common)
        if not 200 <= status < 300:
            # An HTTP-date is read against the server's own clock (Date), if it sent it.
            said = http_date(h.get("date", "")) or now
            wait = retry_after(h.get("retry-after"), said) if status in (429, 503) else None
            reason = x.reason or _reason(status)
            return Response(Outcome.FAILED, error=f"HTTP {status} {reason}".strip(),
                            retry_after=wait, elapsed=time.monotonic() - started, **common)
        if x.body is None:
            raise Failure("no body", status)
        return Response(Outcome.OK, body=x.body.bytes(), content_type=h.get("content-type"),
                        elapsed=time.monotonic() - started, **common)

    def _file(self, request: Request, started: float) -> Response:
        path = Path(url2pathname(urlsplit(request.url).path))
        limit = self.config.max_bytes
        try:
            # Never blocks on a FIFO, reads nothing but a regular file.
            data = read_regular_file(path, limit + 1)
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


def _over_time(status: int | None) -> Failure:
    return Failure("timed out: took longer than the total time bound", status)


def _reason(status: int) -> str:
    """The standard reason phrase (HTTP/2 answers have none of their own)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _replace_url(response: Response, url: str, moved: str | None) -> Response:
    if response.url == url and moved is None:
        return response
    return Response(response.outcome, url, response.status, moved, response.body,
                    response.content_type, response.etag, response.last_modified,
                    response.max_age, response.retry_after, response.error, response.elapsed)


__all__ = [
    "MAX_REDIRECTS",
    "Credentials",
    "Fetcher",
    "Outcome",
    "Request",
    "Response",
    "user_agent",
]
