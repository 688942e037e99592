"""What ``site.base_url`` may be.

The base URL is written into every self link and entry link, and its host
becomes the authority of every minted ``tag:`` id (RFC 4151), which are
permanent: a value that makes an invalid URL or id must be refused when the
configuration is read, not found by a reader later.  The rule:

* ``http`` or ``https``, with a host that is a DNS name (letters, digits and
  hyphens in dot-separated labels; an IPv4 address is one too) — no IPv6
  literal, no trailing dot, no non-ASCII letters (write an internationalised
  name in its ``xn--`` form), since a ``tag:`` authority must be a DNS name;
* an optional port (1 to 65535) and path;
* no ``user:password@``, no query, no fragment;
* only characters a URI may contain (RFC 3986): no spaces, controls or
  non-ASCII text, and ``%`` only as a ``%XX`` escape.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the site's base URL, or None when it can."""
    if not _URI_CHARS.fullmatch(url):
        return ("must contain only URL characters (no spaces, control characters or "
                "non-ASCII text; percent-encode them)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an absolute http(s) URL"
    if "@" in parts.netloc:
        return "must not contain a user name or password"
    if "?" in url or "#" in url:
        return "must not have a query or fragment"
    host = parts.hostname or ""
    if not (_DNS_NAME.fullmatch(host) and len(host) <= 253):
        return (f"must have a DNS host name ({host!r} is not one), as the tag: ids "
                "minted from it require")
    if port == 0:
        return "must not have port 0"
    return None
