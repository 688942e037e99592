"""URLs that may reach a reader, and the credentials that never may (pure).

Two rules, applied where a URL enters (parsing a feed, reading the
configuration) and checked again where one is written out:

* only ``http`` and ``https`` URLs with a host become links: a
  ``javascript:``, ``vbscript:`` or ``data:`` link from a feed would run in
  the reader's browser from our own pages (:func:`web_url`);
* a source URL may carry credentials (``https://user:secret@host/feed``) for
  HTTP Basic authentication; they are used for fetching only
  (:func:`split_credentials`) and never written anywhere:
  :func:`without_credentials` for what is published, :func:`masked` for what
  an operator reads (logs, ``feedsvc sources``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

#: Browsers drop these anywhere in a URL before they read its scheme
#: ("java\tscript:" is javascript:), and leading or trailing C0 controls
#: and spaces: the scheme is judged on what a browser would see.
_INVISIBLE = re.compile(r"[\t\n\r]")
_EDGES = "".join(chr(c) for c in range(0x21))
WEB_SCHEMES = frozenset({"http", "https"})


#: The common case, read without urllib (a tenth of its cost): http(s), a
#: host of plain characters, no spaces or controls anywhere.
_PLAIN_WEB = re.compile(r"https?://(?:[^\x00-\x20\x7f/?#@\[\]]*@)?[A-Za-z0-9.\-_~%]+"
                        r"(?::[0-9]*)?(?:[/?#][^\x00-\x20\x7f]*)?")


def web_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host (tabs and line
    breaks, which browsers ignore, removed), else None."""
    if not url:
        return None
    if _PLAIN_WEB.fullmatch(url):
        return url
    cleaned = _INVISIBLE.sub("", url.strip(_EDGES))
    try:
        parts = urlsplit(cleaned)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not host:
        return None
    return cleaned


def is_web_url(url: str | None) -> bool:
    """True for an absolute http(s) URL with a host: a link a page may carry."""
    return web_url(url) is not None


def _userinfo_split(url: str) -> tuple[str, str | None]:
    """(netloc without userinfo, userinfo or None) of ``url``."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return "", None
    userinfo, at, hostport = netloc.rpartition("@")
    return (hostport, userinfo) if at else (netloc, None)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its userinfo, and (user, password) percent-decoded, or None."""
    hostport, userinfo = _userinfo_split(url)
    if userinfo is None:
        return url, None
    user, _, password = userinfo.partition(":")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=hostport)), (unquote(user), unquote(password))


def without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` removed: what may be published."""
    return split_credentials(url)[0]


#: ``//user:password@`` in a URL that does not parse (config errors show those).
_RAW_PASSWORD = re.compile(r"(//[^/?#@:]*):[^/?#@]*@")


def masked(url: str) -> str:
    """``url`` for an operator's eyes: the user kept, the password ``***``."""
    hostport, userinfo = _userinfo_split(url)
    if userinfo is None:
        # Also when the URL does not parse: its password still must not be shown.
        return _RAW_PASSWORD.sub(r"\1:***@", url)
    user, colon, _ = userinfo.partition(":")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}{':***' if colon else ''}@{hostport}"))


def origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the default port made explicit; None when unparseable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port if port is not None else default


__all__ = ["WEB_SCHEMES", "is_web_url", "masked", "origin", "split_credentials", "web_url",
           "without_credentials"]
