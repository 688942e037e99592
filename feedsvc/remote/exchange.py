"""One HTTP exchange as libcurl hands it over: header lines, then the body as it streams.

:class:`Exchange` collects the status line and headers of the final
response (starting over after a 1xx) and decides, when the headers end,
whether the body is wanted; :class:`Body` decodes it as it arrives (gzip,
deflate) with the size cap applied to the decoded bytes and the total time
bound checked after every chunk, so neither a huge body nor a compression
bomb is ever held in memory beyond the cap.  A fault is a :class:`Failure`,
which :class:`.fetch.Fetcher` turns into a failed response.
"""

from __future__ import annotations

import time
import zlib


class Failure(Exception):
    """A fault of this fetch: it ends as a failed response with this message."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Body:
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
            raise Failure(f"unsupported content encoding {encoding!r}")
        self._deflate = encoding == "deflate"
        self._first = True
        self._left = limit
        self._limit = limit
        self._deadline = deadline
        self._parts: list[bytes] = []

    def _keep(self, data: bytes) -> None:
        self._left -= len(data)
        if self._left < 0:
            raise Failure(f"body larger than {self._limit} bytes: cut off, not read")
        self._parts.append(data)

    def add(self, raw: bytes) -> None:
        if time.monotonic() > self._deadline:
            raise Failure("took longer than the total time bound: cut off")
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
            raise Failure(f"corrupt compressed body: {exc}") from None

    def bytes(self) -> bytes:
        if self._z is not None:
            self._keep(self._z.flush())
        return b"".join(self._parts)


class Exchange:
    """One HTTP request/response on a curl handle, as libcurl hands it over:
    header lines, then body chunks (still encoded)."""

    def __init__(self, limit: int, deadline: float, started: float) -> None:
        self.status: int | None = None
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.body: Body | None = None
        self.failure: Failure | None = None
        self.drained = 0
        self.last = started  # when anything last arrived
        self._limit = limit
        self._deadline = deadline

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def header(self, raw: bytes) -> int | None:
        self.last = time.monotonic()
        line = raw.decode("iso-8859-1").rstrip("\r\n")
        if line.startswith("HTTP/"):  # a new response (after a 1xx): start over
            _, _, rest = line.partition(" ")
            code, _, reason = rest.partition(" ")
            self.status = int(code) if code.isdigit() else None
            self.reason, self.headers = reason.strip(), {}
        elif line:
            name, colon, value = line.partition(":")
            if colon:
                key = name.strip().lower()
                old = self.headers.get(key)
                self.headers[key] = value.strip() if old is None else f"{old}, {value.strip()}"
        elif self.ok and self.status is not None:  # end of a final response's headers
            encoding = self.headers.get("content-encoding", "")
            length = self.headers.get("content-length", "")
            try:
                if not encoding and length.isdigit() and int(length) > self._limit:
                    raise Failure(f"body of {length} bytes is larger than {self._limit}: "
                                  "not read", self.status)
                self.body = Body(encoding, self._limit, self._deadline)
            except Failure as exc:
                self.failure = Failure(exc.message, self.status)
                return -1  # stop the transfer here
        return None

    def write(self, data: bytes) -> int | None:
        self.last = time.monotonic()
        if self.body is None:
            # Not a body we want (an error page, a redirect's note): read a
            # little of it to keep the connection, then give up on both.
            self.drained += len(data)
            return 0 if self.drained > DRAIN_BYTES else None
        try:
            self.body.add(data)
        except Failure as exc:
            self.failure = Failure(exc.message, self.status)
            return 0
        return None


#: The most of an unwanted body (an error page, a redirect's note) read to
#: keep the connection for the next request; a longer one closes it.
DRAIN_BYTES = 65_536


__all__ = ["DRAIN_BYTES", "Body", "Exchange", "Failure"]
