"""The HTTP client against a real server on 127.0.0.1 with scripted faults."""

from __future__ import annotations

import gzip
import random
import shutil
import ssl
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feedsvc import __version__
from feedsvc.config import FetchConfig
from feedsvc.remote.fetch import MAX_REDIRECTS, Fetcher, Outcome, user_agent
from feedsvc.remote.fetch import Request as FetchRequest
from feedsvc.remote.politeness import (
    backoff,
    cache_lifetime,
    effective_interval,
    interleave_hosts,
    retry_after,
)

FEEDS = Path(__file__).resolve().parent / "feeds"
RSS = (FEEDS / "rss20.xml").read_bytes()

#: Small bounds: every fault below is over in well under a second.
FAST = FetchConfig(connect_timeout=0.5, read_timeout=0.3, total_timeout=1.0, concurrency=8,
                   per_host=2, interval=60, min_interval=1, max_interval=3600, backoff_cap=600)
AGENT = user_agent("https://news.example.org/")


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    s = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    s.start()
    yield s
    s.clear()
    if s.is_running():
        s.stop()


@pytest.fixture
def http(server: HTTPServer) -> Iterator[HTTPServer]:
    server.clear()
    yield server
    server.clear()


@pytest.fixture(scope="module")
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FAST, AGENT) as f:  # one client: building one costs a few hundred ms
        yield f


def route(http: HTTPServer, path: str, handler: Callable[[Request], Response]) -> str:
    http.expect_request(path).respond_with_handler(handler)
    return http.url_for(path)


def feed_handler(body: bytes = RSS, etag: str = '"v1"',
                 modified: str = "Fri, 20 Nov 2026 12:00:00 GMT") -> Callable[[Request], Response]:
    """Serves ``body`` with validators, and 304 when the client sends them back."""

    def handle(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag or \
                request.headers.get("If-Modified-Since") == modified:
            return Response(status=304, headers={"ETag": etag, "Last-Modified": modified})
        return Response(body, headers={"ETag": etag, "Last-Modified": modified,
                                       "Content-Type": "application/rss+xml"})

    return handle


# ----------------------------------------------------------------------------- plain answers


def test_200_then_304_with_etag(http: HTTPServer, fetcher: Fetcher) -> None:
    url = route(http, "/feed.xml", feed_handler())
    first = fetcher.fetch_many([fetcher_request(url)])[0]
    assert (first.outcome, first.status, first.body) == (Outcome.OK, 200, RSS)
    assert (first.etag, first.last_modified) == ('"v1"', "Fri, 20 Nov 2026 12:00:00 GMT")
    second = fetcher.fetch(fetcher_request(url, etag='"v1"'))
    assert (second.outcome, second.status, second.body) == (Outcome.NOT_MODIFIED, 304, None)
    assert second.etag == '"v1"'
    sent = [r.headers.get("If-None-Match") for r, _ in http.log]
    assert sent == [None, '"v1"']


def test_304_on_last_modified_alone(http: HTTPServer, fetcher: Fetcher) -> None:
    url = route(http, "/feed.xml", feed_handler(etag='"other"'))
    r = fetcher.fetch(fetcher_request(url, modified="Fri, 20 Nov 2026 12:00:00 GMT"))
    assert r.outcome is Outcome.NOT_MODIFIED
    assert http.log[0][0].headers["If-Modified-Since"] == "Fri, 20 Nov 2026 12:00:00 GMT"


def test_honest_user_agent_and_accept(http: HTTPServer, fetcher: Fetcher) -> None:
    url = route(http, "/feed.xml", feed_handler())
    fetcher.fetch(fetcher_request(url))
    headers = http.log[0][0].headers
    assert headers["User-Agent"] == f"feedsvc/{__version__} (+https://news.example.org/)"
    assert "application/atom+xml" in headers["Accept"]
    assert headers["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.parametrize(("status", "outcome"), [
    (404, Outcome.FAILED), (500, Outcome.FAILED), (403, Outcome.FAILED), (410, Outcome.GONE),
])
def test_error_statuses(http: HTTPServer, fetcher: Fetcher, status: int,
                        outcome: Outcome) -> None:
    url = route(http, "/feed.xml", lambda _r: Response("no", status=status))
    r = fetcher.fetch(fetcher_request(url))
    assert (r.outcome, r.status, r.body) == (outcome, status, None)
    assert r.error is not None and str(status) in r.error


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_and_date(http: HTTPServer, fetcher: Fetcher, status: int) -> None:
    url = route(http, "/s", lambda _r: Response("slow down", status=status,
                                                headers={"Retry-After": "120"}))
    r = fetcher.fetch(fetcher_request(url))
    assert (r.outcome, r.status, r.retry_after) == (Outcome.FAILED, status, 120.0)
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    url = route(http, "/d", lambda _r: Response("slow down", status=status,
                                                headers={"Retry-After": later}))
    r = fetcher.fetch(fetcher_request(url))
    assert r.retry_after is not None and 3500 < r.retry_after <= 3600


def test_cache_hints_are_reported(http: HTTPServer, fetcher: Fetcher) -> None:
    url = route(http, "/c", lambda _r: Response(
        RSS, headers={"Cache-Control": "public, max-age=7200"}))
    assert fetcher.fetch(fetcher_request(url)).max_age == 7200.0


# ----------------------------------------------------------------------------- redirects


def redirect(to: str, status: int) -> Callable[[Request], Response]:
    return lambda _r: Response(status=status, headers={"Location": to})


@pytest.mark.parametrize("status", [301, 308])
def test_permanent_redirect_gives_the_new_url(http: HTTPServer, fetcher: Fetcher,
                                              status: int) -> None:
    new = route(http, "/new.xml", feed_handler())
    old = route(http, "/old.xml", redirect("/new.xml", status))
    r = fetcher.fetch(fetcher_request(old))
    assert (r.outcome, r.status, r.url, r.permanent_url) == (Outcome.OK, 200, new, new)


@pytest.mark.parametrize("status", [302, 303, 307])
def test_temporary_redirect_is_followed_not_remembered(http: HTTPServer, fetcher: Fetcher,
                                                       status: int) -> None:
    new = route(http, "/today.xml", feed_handler())
    old = route(http, "/feed.xml", redirect(new, status))
    r = fetcher.fetch(fetcher_request(old))
    assert (r.outcome, r.url, r.permanent_url) == (Outcome.OK, new, None)


def test_permanent_after_temporary_is_not_remembered(http: HTTPServer,
                                                     fetcher: Fetcher) -> None:
    route(http, "/c.xml", feed_handler())
    route(http, "/b.xml", redirect("/c.xml", 301))
    a = route(http, "/a.xml", redirect("/b.xml", 302))
    r = fetcher.fetch(fetcher_request(a))
    assert r.outcome is Outcome.OK and r.permanent_url is None


def test_redirect_loop_is_an_error(http: HTTPServer, fetcher: Fetcher) -> None:
    route(http, "/ping", redirect("/pong", 302))
    url = route(http, "/pong", redirect("/ping", 301))
    r = fetcher.fetch(fetcher_request(url))
    assert r.outcome is Outcome.FAILED and "loop" in (r.error or "")
    assert len(http.log) == 2


def test_more_than_five_hops_is_an_error(http: HTTPServer, fetcher: Fetcher) -> None:
    for i in range(MAX_REDIRECTS + 1):
        route(http, f"/hop{i}", redirect(f"/hop{i + 1}", 301))
    route(http, f"/hop{MAX_REDIRECTS + 1}", feed_handler())
    r = fetcher.fetch(fetcher_request(http.url_for("/hop0")))
    assert r.outcome is Outcome.FAILED and "more than 5 redirects" in (r.error or "")
    # five hops are fine
    r = fetcher.fetch(fetcher_request(http.url_for("/hop1")))
    assert r.outcome is Outcome.OK


def test_redirect_without_location(http: HTTPServer, fetcher: Fetcher) -> None:
    url = route(http, "/x", lambda _r: Response(status=301))
    r = fetcher.fetch(fetcher_request(url))
    assert r.outcome is Outcome.FAILED and "Location" in (r.error or "")


# ----------------------------------------------------------------------------- slow and big


def test_hang_longer_than_the_timeout(http: HTTPServer, fetcher: Fetcher) -> None:
    def hang(_r: Request) -> Response:
        time.sleep(1.5)
        return Response(RSS)

    url = route(http, "/hang", hang)
    started = time.monotonic()
    r = fetcher.fetch(fetcher_request(url))
    assert r.outcome is Outcome.FAILED and "timed out" in (r.error or "")
    assert time.monotonic() - started < 1.0


def test_slow_trickling_body_is_cut_off_by_the_total_bound(http: HTTPServer,
                                                           fetcher: Fetcher) -> None:
    def trickle(_r: Request) -> Response:
        def body() -> Iterator[bytes]:
            yield RSS[:100]
            for _ in range(100):  # each byte well inside the read timeout, forever in all
                time.sleep(0.05)
                yield b" "
        return Response(body(), direct_passthrough=True)

    url = route(http, "/trickle", trickle)
    started = time.monotonic()
    r = fetcher.fetch(fetcher_request(url))
    took = time.monotonic() - started
    assert r.outcome is Outcome.FAILED and "total time bound" in (r.error or "")
    assert r.status == 200
    assert FAST.total_timeout <= took < FAST.total_timeout + 0.5


def _big(total: int) -> Callable[[Request], Response]:
    def handle(_r: Request) -> Response:
        chunk = b"<!-- " + b"x" * 65_000 + b" -->\n"

        def body() -> Iterator[bytes]:
            yield b'<?xml version="1.0"?><rss version="2.0"><channel>'
            for _ in range(total // len(chunk)):
                yield chunk
        return Response(body(), direct_passthrough=True)  # streamed: no Content-Length
    return handle


def test_50_mb_body_is_cut_off_at_the_cap(http: HTTPServer) -> None:
    url = route(http, "/big", _big(50 * 1024 * 1024))
    config = FetchConfig(read_timeout=2, total_timeout=10)  # default cap: 15 MiB
    with Fetcher(config, AGENT) as fetcher:
        r = fetcher.fetch(fetcher_request(url))
    assert r.outcome is Outcome.FAILED and r.body is None
    assert f"larger than {15 * 1024 * 1024} bytes" in (r.error or "")


def test_declared_length_over_the_cap_is_not_read(http: HTTPServer) -> None:
    url = route(http, "/declared", lambda _r: Response(b"x" * 5000))
    with Fetcher(FetchConfig(max_bytes=4096), AGENT) as fetcher:
        r = fetcher.fetch(fetcher_request(url))
    assert r.outcome is Outcome.FAILED and "5000 bytes" in (r.error or "")


def test_gzip_body(http: HTTPServer, fetcher: Fetcher) -> None:
    url = route(http, "/gz", lambda _r: Response(gzip.compress(RSS),
                                                 headers={"Content-Encoding": "gzip"}))
    r = fetcher.fetch(fetcher_request(url))
    assert (r.outcome, r.body) == (Outcome.OK, RSS)


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_body_zlib_or_raw(http: HTTPServer, fetcher: Fetcher, wbits: int) -> None:
    z = zlib.compressobj(wbits=wbits)
    data = z.compress(RSS) + z.flush()
    url = route(http, "/df", lambda _r: Response(data, headers={"Content-Encoding": "deflate"}))
    assert fetcher.fetch(fetcher_request(url)).body == RSS


def test_compression_bomb_is_cut_off(http: HTTPServer) -> None:
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024), compresslevel=1)  # 16 MiB in ~70 KB
    url = route(http, "/bomb", lambda _r: Response(bomb, headers={"Content-Encoding": "gzip"}))
    with Fetcher(FetchConfig(max_bytes=1024 * 1024), AGENT) as fetcher:
        r = fetcher.fetch(fetcher_request(url))
    assert r.outcome is Outcome.FAILED and "larger than 1048576" in (r.error or "")


def test_corrupt_gzip(http: HTTPServer, fetcher: Fetcher) -> None:
    url = route(http, "/bad", lambda _r: Response(b"not gzip at all",
                                                  headers={"Content-Encoding": "gzip"}))
    r = fetcher.fetch(fetcher_request(url))
    assert r.outcome is Outcome.FAILED and "corrupt" in (r.error or "")


def test_connection_refused() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Fetcher(FAST, AGENT) as fetcher:
        r = fetcher.fetch(fetcher_request(f"http://127.0.0.1:{port}/feed"))
    assert r.outcome is Outcome.FAILED and r.status is None and r.error


def test_https_certificates_are_verified(tmp_path: Path, fetcher: Fetcher) -> None:
    # A server whose certificate no authority signed: nothing is read from it.
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    try:
        server.expect_request("/feed").respond_with_data(RSS)
        url = server.url_for("/feed")
        assert url.startswith("https://")
        r = fetcher.fetch(fetcher_request(url))
    finally:
        server.stop()
    assert r.outcome is Outcome.FAILED and r.status is None and r.body is None
    assert "certificate" in (r.error or "").lower()


def test_local_files(tmp_path: Path, fetcher: Fetcher) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(RSS)
    r = fetcher.fetch(fetcher_request(path.as_uri()))
    assert (r.outcome, r.body) == (Outcome.OK, RSS)
    r = fetcher.fetch(fetcher_request((tmp_path / "missing.xml").as_uri()))
    assert r.outcome is Outcome.FAILED and "cannot read" in (r.error or "")


# ----------------------------------------------------------------------------- concurrency


def test_per_host_and_overall_bounds(http: HTTPServer) -> None:
    lock = threading.Lock()
    now: dict[str, int] = {"all": 0}
    peak: dict[str, int] = {"all": 0}

    def slow(request: Request) -> Response:
        host = request.host.split(":")[0]
        with lock:
            for key in (host, "all"):
                now[key] = now.get(key, 0) + 1
                peak[key] = max(peak.get(key, 0), now[key])
        time.sleep(0.15)
        with lock:
            now[host] -= 1
            now["all"] -= 1
        return Response(RSS)

    url = route(http, "/slow", slow)
    other = url.replace("127.0.0.1", "localhost")
    config = FetchConfig(concurrency=3, per_host=2, read_timeout=2, total_timeout=5)
    with Fetcher(config, AGENT) as fetcher:
        started = time.monotonic()
        responses = fetcher.fetch_many([fetcher_request(u) for u in [url] * 4 + [other] * 4])
        took = time.monotonic() - started
    assert all(r.outcome is Outcome.OK for r in responses)
    assert peak == {"127.0.0.1": 2, "localhost": 2, "all": 3}
    assert took >= 0.15 * 8 / 3


def test_interleave_hosts() -> None:
    urls = ["http://a/1", "http://a/2", "http://a/3", "http://b/1", "http://c/1", "http://b/2"]
    assert interleave_hosts(urls) == [0, 3, 4, 1, 5, 2]


# ----------------------------------------------------------------------------- policy (pure)


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    config = FetchConfig(backoff_cap=3600)
    rng = random.Random(7)
    waits = [[backoff(n, 100, config, rng) for n in range(1, 9)] for _ in range(50)]
    for row in waits:
        for n, wait in enumerate(row, start=1):
            expected = min(3600, 100 * 2 ** (n - 1))
            assert 0.8 * expected <= wait <= min(3600, 1.2 * expected)
    assert len({round(row[0], 6) for row in waits}) > 40  # jittered, not in lockstep
    assert backoff(1000, 100, config, rng) <= 3600


def test_retry_after_values() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert retry_after("30", now) == 30.0
    assert retry_after("Fri, 27 Nov 2026 12:05:00 GMT", now) == 300.0
    assert retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


def test_cache_lifetime() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert cache_lifetime({"cache-control": "max-age=600, must-revalidate"}, now) == 600.0
    assert cache_lifetime({"expires": "Fri, 27 Nov 2026 13:00:00 GMT",
                           "date": "Fri, 27 Nov 2026 12:30:00 GMT"}, now) == 1800.0
    assert cache_lifetime({"expires": "Fri, 27 Nov 2026 13:00:00 GMT"}, now) == 3600.0
    assert cache_lifetime({"expires": "0"}, now) == 0.0
    assert cache_lifetime({"cache-control": "max-age=60", "expires": "x"}, now) == 60.0
    assert cache_lifetime({}, now) is None


def test_hints_raise_the_interval_within_bounds() -> None:
    config = FetchConfig(interval=600, min_interval=300, max_interval=7200)
    assert effective_interval(600, [None, None], config) == 600
    assert effective_interval(600, [3600, None], config) == 3600
    assert effective_interval(600, [60, 120], config) == 600  # never shortened
    assert effective_interval(600, [None, 86_400], config) == 7200  # bounded


def fetcher_request(url: str, *, etag: str | None = None,
                    modified: str | None = None) -> FetchRequest:
    return FetchRequest(url, etag, modified)
