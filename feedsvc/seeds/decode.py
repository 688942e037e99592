"""Seed bytes → clean text: the first step of reading a seed file.

:func:`decode_seed` chooses the encoding and refuses bytes that are not clean
text, naming the file; :mod:`feedsvc.seeds.parse` takes the text from there.

UTF-8 (a BOM is stripped); UTF-16 when the file starts with a UTF-16 BOM;
otherwise Windows-1252 when the bytes are clean Windows-1252 text.  A file
that is not valid UTF-8 but holds valid multi-byte UTF-8 sequences is
damaged UTF-8 (Windows-1252 would turn its quotes into "â€œ") and is
rejected.  NUL and other control characters (C0 except tab and newline, DEL,
C1) and Unicode noncharacters (U+FFFE, U+FFFF …) mean the file is not text
(no feed could carry them: see :mod:`feedsvc.xmltext`).  CRLF and CR become
LF; U+FEFF is removed wherever it stands.  U+FFFD rejects the file: it
marks text that an earlier lossy conversion already damaged; dropping it
would publish words with letters silently missing, while rejecting names
the file so that its source can be fixed (a corrected file then arrives as
a revision).
"""

from __future__ import annotations

import re

from ..errors import SeedError
from ..xmltext import describe, first_unpublishable, utf8_suspect

__all__ = ["decode_seed"]


_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# C0 controls except tab, LF and CR, and DEL; checked on the bytes (a regular
# expression over the decoded text costs ten times as much).
_C0_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_NOT_C0_BYTES = bytes(b for b in range(256) if b not in _C0_BYTES)
# A valid UTF-8 sequence of three or four bytes.  Clean Windows-1252 text never
# holds one in practice (it would read as a lower-case accented letter followed
# by two symbols, e.g. "â€œ"), while damaged UTF-8 nearly always does: its
# curly quotes and dashes are E2 80 xx.  Two-byte sequences are left out on
# purpose: "CAFÉ" + right single quote is C9 92, valid UTF-8.
_UTF8_LONG = re.compile(
    rb"\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)


def decode_seed(data: bytes, *, name: str) -> str:
    """Seed bytes → clean text: LF line ends, no BOM, no U+FEFF, no controls,
    no noncharacters.

    Raises :class:`SeedError` (``where=name``) when the bytes are not text.
    """
    if data.startswith(_UTF8_BOM):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _decode_other(data, name)
    else:
        _refuse_control(_utf8_control(data), name)
        if utf8_suspect(data):  # controls are refused: noncharacters are left
            _refuse_unpublishable(text, name)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    if "\ufffd" in text:
        raise SeedError("damaged text: contains U+FFFD replacement characters", where=name)
    return text


def _decode_other(data: bytes, name: str) -> str:
    """Bytes that are not UTF-8: UTF-16 with a BOM, or clean Windows-1252."""
    if data.startswith(_UTF16_BOMS):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise SeedError("not text: invalid UTF-16", where=name) from None
        _refuse_unpublishable(text, name)
        return text
    _refuse_control(_c0_control(data), name)
    if _UTF8_LONG.search(data):
        raise SeedError("damaged text: UTF-8 mixed with other bytes", where=name)
    try:
        # Python's cp1252 refuses the five undefined bytes 0x81 0x8D 0x8F 0x90 0x9D,
        # and decodes 0x80-0x9F to printable characters, so no C1 control can result.
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise SeedError("not text: neither UTF-8 nor Windows-1252", where=name) from None


def _c0_control(data: bytes) -> int | None:
    """The first C0 control byte (tab, LF, CR aside) or DEL in ``data``."""
    found = data.translate(None, _NOT_C0_BYTES)
    return found[0] if found else None


def _utf8_control(data: bytes) -> int | None:
    """The first control character of valid UTF-8 ``data``, C1 (C2 80 to C2 9F) included."""
    found = _c0_control(data)
    if found is not None:
        return found
    # In valid UTF-8 every C2 byte leads a two-byte sequence: look at its second byte.
    i = data.find(b"\xc2")
    while i >= 0:
        if data[i + 1] < 0xA0:
            return data[i + 1]
        i = data.find(b"\xc2", i + 2)
    return None


def _refuse_control(code: int | None, name: str) -> None:
    if code is not None:
        what = "NUL bytes" if code == 0 else f"control character U+{code:04X}"
        raise SeedError(f"not text: {what}", where=name)


def _refuse_unpublishable(text: str, name: str) -> None:
    bad = first_unpublishable(text)
    if bad is not None:
        what = "NUL bytes" if bad == "\x00" else describe(bad)
        raise SeedError(f"not text: {what}", where=name)
