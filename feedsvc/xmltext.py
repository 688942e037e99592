"""The characters stored text may hold: one policy for every input (pure).

Stored text ends up in XML (feeds), HTML inside XML (feed content) and HTML
(pages), so it may hold only what all three accept:

* XML 1.0 forbids the C0 controls other than tab, LF and CR, lone surrogates,
  U+FFFE and U+FFFF (its ``Char`` production).  lxml refuses to write them,
  so one such character in one stored entry stops every feed that holds it.
* HTML also forbids DEL, the C1 controls and every Unicode noncharacter
  (U+FDD0 to U+FDEF, and the last two code points of each plane); the W3C
  feed validator warns about each of them ("bad characters", "Invalid HTML").

So text may hold tab, LF, CR and every Unicode scalar value that is neither a
control character nor a noncharacter; anything else is *unpublishable*.

Where text enters, it is checked once: a seed file holding such a character
is rejected as not text (:mod:`feedsvc.seeds.decode`, as for any control character:
the file can be fixed and sent again), and remote documents have them
dropped (:mod:`feedsvc.remote.parse`: someone else's feed cannot be fixed, and
readers drop them too).
"""

from __future__ import annotations

import re

__all__ = ["describe", "drop_unpublishable", "first_unpublishable", "utf8_suspect"]

# Controls, surrogates and the BMP noncharacters; the supplementary planes
# are matched as a whole and sorted out in Python: a character class that
# lists the 32 noncharacters there makes the search ten times slower.
_CANDIDATE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    "\U00010000-\U0010ffff]"
)

# Every unpublishable character's UTF-8 form holds one of these bytes: C0
# controls and DEL themselves, C2 (the C1 controls), ED (surrogates, as
# "surrogatepass" writes them), EF (U+FDD0-U+FDEF, U+FFFE, U+FFFF) and F0-F4
# (the supplementary planes).  Text without them (ASCII, most Latin and
# much other text) is clean at the cost of one ``bytes.translate``.
_SUSPECT = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xC2, 0xED, 0xEF,
                  *range(0xF0, 0xF5)])
_INNOCENT = bytes(b for b in range(256) if b not in _SUSPECT)


def _unpublishable(ch: str) -> bool:
    # Only characters _CANDIDATE matched: a BMP one is always bad, a
    # supplementary one only when it is a plane's U+xFFFE or U+xFFFF.
    return ch <= "\uffff" or ord(ch) & 0xFFFE == 0xFFFE


def utf8_suspect(data: bytes) -> bool:
    """False when UTF-8 ``data`` certainly holds no unpublishable character
    (a cheap filter before :func:`first_unpublishable`)."""
    return bool(data.translate(None, _INNOCENT))


def first_unpublishable(text: str) -> str | None:
    """The first character of ``text`` that stored text may not hold, if any."""
    if utf8_suspect(text.encode("utf-8", "surrogatepass")):
        for m in _CANDIDATE.finditer(text):
            if _unpublishable(m[0]):
                return m[0]
    return None


def drop_unpublishable(text: str) -> str:
    """``text`` without the characters stored text may not hold."""
    if first_unpublishable(text) is None:
        return text
    return _CANDIDATE.sub(lambda m: "" if _unpublishable(m[0]) else m[0], text)


def describe(ch: str) -> str:
    """``control character U+0001``, ``noncharacter U+FFFE``, ``surrogate U+DCE9``."""
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        kind = "surrogate"
    elif code < 0x20 or 0x7F <= code <= 0x9F:
        kind = "control character"
    else:
        kind = "noncharacter"
    return f"{kind} U+{code:04X}"
