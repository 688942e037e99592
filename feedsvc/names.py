"""File names: kept exactly as the file system has them, shown safely (pure).

A POSIX file name is any string of bytes but ``/`` and NUL.  Python hands
the bytes that are not UTF-8 over as lone surrogates (``surrogateescape``),
so a name is always a ``str`` that :func:`os.fsencode` turns back into the
exact bytes.  Two things cannot take such a string as it is:

* the store, whose text columns hold UTF-8 only: :func:`store_key` gives a
  name that is not UTF-8 a key of its own, ``/`` and its bytes
  percent-encoded.  A path relative to the seeds folder never starts with
  ``/``, and percent-encoding is one-to-one, so the key never equals the key
  of another name, and :func:`from_store_key` gives the exact name back;
* people: a name may hold a newline (a fake log line), an escape sequence
  (which a terminal obeys) or bidirectional controls.  :func:`printable`
  writes every character that does not print as an escape, ``\\`` as
  ``\\\\``, so what is shown is one line that names exactly one file.
"""

from __future__ import annotations

import os
from urllib.parse import quote, unquote_to_bytes

__all__ = ["from_store_key", "printable", "store_key"]


def store_key(relpath: str) -> str:
    """The ``files`` key of a relative path (itself when it is UTF-8)."""
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        return "/" + quote(os.fsencode(relpath), safe="/")
    return relpath


def from_store_key(key: str) -> str:
    """The relative path a :func:`store_key` was made of."""
    if key.startswith("/"):
        return os.fsdecode(unquote_to_bytes(key[1:]))
    return key


def printable(name: str) -> str:
    """``name`` on one line, nothing in it a terminal acts on, and still exact.

    ``\\`` is written ``\\\\``; a byte that is not UTF-8 (a lone surrogate
    from ``surrogateescape``) ``\\xNN``; any other character that does not
    print (controls, format and bidirectional characters, separators other
    than the space, unassigned code points) ``\\uNNNN`` or ``\\UNNNNNNNN``.
    """
    if name.isprintable() and "\\" not in name:
        return name
    return "".join(_escape(ch) for ch in name)


def _escape(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    if ch.isprintable():
        return ch
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
