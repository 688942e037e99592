"""Section slugs: safe folder names minted once per section node.

A slug is lower-case ASCII letters and digits in hyphen-separated runs, at
most :data:`MAX_LEN` characters, so it can never be ``.``, ``..``, contain a
path separator or escape the output folder.  Names that transliterate to
nothing (``政治``, ``..``, ``&``) get ``section-<hash>``.  The store keeps the
first candidate not yet taken among a node's siblings, so a slug never changes
once published even if a later sibling's name would have wanted it.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from collections.abc import Container, Iterator

MAX_LEN = 60
#: Top-level names the output folder already uses for other things.
RESERVED = frozenset({"articles"})

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _base(name: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _NON_ALNUM.sub("-", ascii_text.lower()).strip("-")


def _fit(base: str, suffix: str) -> str:
    """``base-suffix`` cut to MAX_LEN by shortening the base, never the suffix."""
    room = MAX_LEN - len(suffix) - 1
    return f"{base[:room].rstrip('-')}-{suffix}"


def slug_candidates(name: str) -> Iterator[str]:
    """Slugs for a section name, best first, endlessly: ``food-drink``,
    then ``food-drink-<6 hex of sha1(name)>``, then ``food-drink-<hex>-2``, …"""
    base = _base(name)[:MAX_LEN].rstrip("-")
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass"), usedforsecurity=False)
    tag = digest.hexdigest()[:6]
    if not base:
        base, first = "section", []
    else:
        first = [base]
    numbered = (_fit(base, f"{tag}-{n}") for n in itertools.count(2))
    for slug in itertools.chain(first, [_fit(base, tag)], numbered):
        if slug not in RESERVED:
            yield slug


def mint_slug(name: str, taken: Container[str]) -> str:
    """The first candidate for ``name`` that is not in ``taken`` (the siblings' slugs)."""
    return next(s for s in slug_candidates(name) if s not in taken)
