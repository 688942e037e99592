"""Links of someone else's feed: resolved, normalised for identity, made canonical ids (pure).

Relative references are resolved against ``xml:base`` or the feed's URL
(:func:`resolve_url`, :func:`join_url`, with a shortcut for the plain
``/path`` links most feeds use); :func:`normalise_link` reduces a link to
what identifies the article (tracking parameters stripped, scheme, ``www.``
and default port dropped), the form duplicates are matched by across
sources; :func:`canonical_id` and :func:`canonical_url` give the ids our own
feeds may carry (RFC 3986 normal form, as the W3C validator checks it).
"""

from __future__ import annotations

import functools
import re
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

# ----------------------------------------------------------------------------- resolving

SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


#: A path-absolute reference (``/story/12``) that ``urljoin`` would only put
#: after the base's scheme and host: no dot segments, query, fragment,
#: parameters, spaces or control characters for it to rework.
_PLAIN_PATH = re.compile(r"/(?!/)[^\x00-\x20\x7f?#;]*")


@functools.lru_cache(maxsize=256)
def _origin(base: str) -> str | None:
    """``scheme://host`` of an http(s) base URL, else None."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def join_url(base: str, value: str) -> str | None:
    """``value`` resolved against ``base`` (None: an unparseable URL, kept as written).
    A plain path-absolute link (most relative links in feeds) is the base's
    origin and the path, as ``urljoin`` gives it, at a fraction of its cost."""
    if _PLAIN_PATH.fullmatch(value) and "/." not in value:
        origin = _origin(base)
        if origin is not None:
            return origin + value
    return _urljoin(base, value)


@functools.lru_cache(maxsize=4096)
def _urljoin(base: str, value: str) -> str | None:
    # Cached: feeds repeat the same few relative links in every entry.
    try:
        return urljoin(base, value)
    except ValueError:
        return None


def resolve_url(url: str, base: str) -> str:
    """``url`` made absolute against ``base``; kept as written when it cannot be."""
    url = url.strip()
    if not url or SCHEME.match(url):
        return url
    return join_url(base, url) or url


# ----------------------------------------------------------------------------- identity

#: Query parameters that only track the reader; never part of an article's identity.
TRACKING = frozenset({
    "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
    "_hsenc", "_hsmi", "mkt_tok", "ref_src", "ref_url", "oly_enc_id", "oly_anon_id",
    "vero_id", "wickedid", "spm", "cmpid", "soc_src", "soc_trk", "ncid", "sr_share",
    "__twitter_impression", "at_medium", "at_campaign", "rss", "ito",
})


def _tracking(name: str) -> bool:
    low = name.lower()
    return low.startswith(("utm_", "pk_", "mtm_", "hsa_")) or low in TRACKING


# An http(s) link whose parts need no decoding: host of letters, digits, dots
# and hyphens, a path, a query of plain name=value pairs.  Read directly;
# anything else goes through urllib (same result, several times the cost).
_PLAIN_LINK = re.compile(r"https?://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(/[^?#\s]*)?"
                         r"(?:\?([A-Za-z0-9_.~=&-]*))?(?:#\S*)?")


def _plain_link(url: str) -> str | None:
    m = _PLAIN_LINK.fullmatch(url)
    if m is None:
        return None
    host, port, path, query = m.groups()
    host = host.lower().rstrip(".").removeprefix("www.")
    if not host or (port is not None and int(port) > 65535):
        return None
    if port and int(port) not in (0, 80, 443):
        host = f"{host}:{int(port)}"
    pairs = []
    for piece in (query or "").split("&"):
        if piece:
            name, _, value = piece.partition("=")
            if "=" in value:
                return None  # urlencode would escape it: leave that to urllib
            if not _tracking(name):
                pairs.append((name, value))
    pairs.sort()
    kept = "&".join(f"{k}={v}" for k, v in pairs)
    return f"//{host}{path or '/'}" + (f"?{kept}" if kept else "")


def normalise_link(url: str) -> str:
    """A link reduced to what identifies the article: scheme, ``www.``,
    default port, fragment and tracking parameters dropped; host lower case;
    the remaining parameters sorted."""
    url = url.strip()
    plain = _plain_link(url)
    return plain if plain is not None else _normalise_with_urllib(url)


def _normalise_with_urllib(url: str) -> str:
    """:func:`normalise_link` of any link, through urllib's parsing and quoting."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return url
    host = host.removeprefix("www.")
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                   if not _tracking(k))
    path = parts.path or "/"
    return urlunsplit(("", host, path, urlencode(query), ""))


def strip_tracking(url: str) -> str:
    """``url`` without tracking parameters, otherwise exactly as given."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _tracking(k)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


# ----------------------------------------------------------------------------- ids

# Ids in our output must be in the canonical form the W3C validator checks
# (RFC 3986 normalisation); ids outside this conservative shape are not used.
_PLAIN_ID = re.compile(r"[a-z][a-z0-9+.\-]*:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_id(value: str | None) -> str | None:
    """``value`` if it is an absolute URI already in canonical form (lower-case
    scheme and host, no default port, a path, no dot segments, no escapes),
    else None."""
    if not value or not _PLAIN_ID.fullmatch(value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.netloc:
        if parts.netloc != parts.netloc.lower() or "@" in parts.netloc \
                or parts.netloc.endswith(":") or not parts.path:
            return None
        if port is not None and port == _DEFAULT_PORTS.get(parts.scheme):
            return None
        if any(seg in (".", "..") for seg in parts.path.split("/")):
            return None
    return value


def canonical_url(url: str) -> str:
    """An http(s) URL in canonical form, for use as an id: scheme and host in
    lower case, default port dropped, an empty path made ``/``, characters
    that need it percent-encoded."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    safe = "-._~!$&'()*+,;=:@/"
    path = quote(parts.path or "/", safe=safe)
    query = quote(parts.query, safe=safe + "?")
    return urlunsplit((scheme, netloc, path, query, ""))


__all__ = [
    "SCHEME",
    "TRACKING",
    "canonical_id",
    "canonical_url",
    "join_url",
    "normalise_link",
    "resolve_url",
    "strip_tracking",
]
