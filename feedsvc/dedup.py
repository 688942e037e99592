"""Exact and near-duplicate detection over article bodies (pure: no I/O, no SQL).

Two files are the *same* entry when

* their visible fields hash alike (:func:`content_hash`): a duplicate, or
* they sit in the same section and their bodies are nearly the same
  (:func:`similarity` at or above the configured threshold): a revision.

The title never takes part in the near-duplicate test: many pieces share one
("Editorial", daily market reports), and a rewritten headline over the same
body is a revision.

Near duplicates are found without comparing every pair.  A body is reduced
to character 8-gram shingles (hashed to uint64), a 64-value one-permutation
MinHash :func:`signature` is taken from them, and the index of
:mod:`feedsvc.lsh` buckets signatures by bands so that only bodies sharing a
band become candidates.  Candidates are then verified with the exact
:func:`similarity` (:func:`verify`) before :func:`decide` rules.
datasketch offers MinHash and LSH, but its per-shingle hashing is two orders
of magnitude slower than the vectorised form here, and its LSH keeps Python
dicts of lists per band (over 100 bytes an entry against 16 in the sorted
arrays of :class:`feedsvc.lsh.LshIndex`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .models import Article, Decision, VersionBody

U64 = npt.NDArray[np.uint64]

#: Number of MinHash values in a signature.
K = 64
_BIN_SHIFT = np.uint64(58)  # top 6 bits of a hash pick one of the K bins
#: The value of an empty bin, and of every bin of an empty body.
EMPTY = np.uint64(0xFFFF_FFFF_FFFF_FFFF)

_M1 = np.uint64(0xBF58_476D_1CE4_E5B9)
_M2 = np.uint64(0x94D0_49BB_1331_11EB)
_S32 = np.uint64(32)
_SPACE = 0x20


def _mix(x: U64) -> U64:
    """A bijective 64-bit mixer (multiply / xor-shift), so hashed shingles keep
    exactly the set relations of the raw ones while their order looks random."""
    y = x * _M1
    y ^= y >> _S32
    y *= _M2
    y ^= y >> _S32
    return y


def mix_ints(values: Sequence[int]) -> U64:
    """:func:`_mix` of small integers: fixed pseudo-random constants (probe order, LSH salts)."""
    return _mix(np.array(values, dtype=np.uint64))


# ---------------------------------------------------------------------------
# exact identity


def content_hash(article: Article) -> bytes:
    """16-byte hash of every visible field; equal iff section, title, authors,
    credit and paragraphs are all equal.  The fields are concatenated behind a
    header of their counts and lengths, so no two articles share an encoding."""
    fields = (*article.section, article.title, *article.authors, article.credit or "",
              *article.paragraphs)
    header = (f"{len(article.section)},{len(article.authors)},{int(article.credit is None)},"
              f"{len(article.paragraphs)}:{','.join(map(str, map(len, fields)))}:")
    data = (header + "".join(fields)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16, person=b"feedsvc-article1").digest()


# ---------------------------------------------------------------------------
# shingles


def _fold_one(cp: int) -> int:
    """Lower-case code point for a letter or digit, space for anything else."""
    ch = chr(cp)
    if not ch.isalnum():
        return _SPACE
    low = ch.lower()
    return ord(low) if len(low) == 1 else cp


@cache
def _fold_table() -> npt.NDArray[np.uint32]:
    """:func:`_fold_one` over the Basic Multilingual Plane (built once, ~30 ms)."""
    return np.array([_fold_one(cp) for cp in range(0x10000)], dtype=np.uint32)


@cache
def _ascii_table() -> npt.NDArray[np.uint8]:
    return _fold_table()[:128].astype(np.uint8)


def _squeeze(folded: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Runs of spaces to one space, none at either end."""
    space = folded == _SPACE
    keep = ~space
    keep[1:] |= ~space[:-1]  # a space is kept only right after a non-space
    folded = folded[keep]
    if folded.size and folded[-1] == _SPACE:
        folded = folded[:-1]
    return folded


def normalise(paragraphs: Sequence[str]) -> bytes:
    """The body as UTF-8: lower case, every run of non-alphanumerics one space.

    Vectorised over code points (bytes for ASCII text) because a regular
    expression substitution costs several times more for a 4 KB body.
    """
    text = " ".join(paragraphs)
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        return bytes(_squeeze(_ascii_table().take(codes)).data)
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    folded = _fold_table().take(cps, mode="clip")
    if int(cps.max()) > 0xFFFF:  # rare (emoji, CJK extensions, historic scripts)
        astral = np.flatnonzero(cps > 0xFFFF)
        folded[astral] = [_fold_one(cp) for cp in cps[astral].tolist()]
    squeezed = bytes(_squeeze(folded).data).decode("utf-32-le", "surrogatepass")
    return squeezed.encode("utf-8", "surrogatepass")


def _shingle_hashes(paragraphs: Sequence[str]) -> U64:
    """Hashed 8-byte shingles of the normalised body, unsorted, with repeats."""
    data = normalise(paragraphs)
    if not data:
        return np.empty(0, dtype=np.uint64)
    if len(data) < 8:  # a tiny body is one shingle
        data = data.ljust(8, b"\0")
    # Every 8-byte window read as one little-endian uint64, without copying.
    windows: U64 = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    return _mix(windows)


def _sorted_unique(x: U64) -> U64:
    x = np.sort(x)
    if x.size > 1:
        x = x[np.concatenate(([True], x[1:] != x[:-1]))]
    return x


def shingles(paragraphs: Sequence[str]) -> U64:
    """Sorted, unique hashed character 8-gram shingles of a body."""
    return _sorted_unique(_shingle_hashes(paragraphs))


def _overlap(a: U64, b: U64) -> float:
    """Ochiai coefficient |A∩B| / sqrt(|A|·|B|) of two sorted unique arrays."""
    if a.size == 0 or b.size == 0:
        return 0.0
    if a.size > b.size:
        a, b = b, a
    common = int(np.count_nonzero(b.take(np.searchsorted(b, a), mode="clip") == a))
    return common / math.sqrt(a.size * b.size)


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Exact similarity of two bodies in [0, 1]; 1.0 for equal normalised text.

    The Ochiai (set cosine) coefficient rather than plain Jaccard: it is never
    below Jaccard (so max(Jaccard, Ochiai) is Ochiai), and it treats the
    common revisions of an n-paragraph article as such.  With paragraphs of
    similar length, rewriting one of n scores (n-1)/n and adding one
    sqrt(n/(n+1)) -- 0.83 and 0.93 for n = 6, where Jaccard gives 0.71 and
    0.86 and so misses a rewritten paragraph at the default threshold 0.8.  A short piece fully
    contained in a long one scores sqrt(short/long), so a brief is not merged
    into the report that grew out of it unless it was most of it.  Two empty
    bodies score 0: with nothing to compare, only the exact hash can match.
    """
    return _overlap(shingles(a), shingles(b))


#: Bytes of normalised body text (:func:`normalise`: letters and digits in
#: lower case, single spaces, UTF-8) below which a body is too short to
#: identify an article: a teaser, a "Comments" link, a byline.  About 30
#: English words, or 67 CJK characters.  Remote entries are compared by text
#: only from this length on (see feedsvc.remote.ingest).
MIN_TEXT = 200


def enough_text(paragraphs: Sequence[str]) -> bool:
    """Whether a body is long enough for text similarity to say anything."""
    return len(normalise(paragraphs)) >= MIN_TEXT


# ---------------------------------------------------------------------------
# MinHash signatures


@cache
def _probe_order() -> npt.NDArray[np.intp]:
    """For each bin, a fixed pseudo-random order of all bins, used to fill an
    empty bin from the first non-empty one ("optimal densification",
    Shrivastava 2017).  Derived from :func:`_mix` so that stored signatures
    stay valid whatever random generator numpy ships."""
    seeds = mix_ints(range(K * K)).reshape(K, K)
    return np.argsort(seeds, axis=1, kind="stable")


def signature(sh: U64) -> U64:
    """One-permutation MinHash of shingle hashes (any order, repeats allowed).

    The top 6 bits of a hash choose its bin and each bin keeps its minimum, so
    for two bodies a bin agrees with probability equal to their Jaccard
    similarity.  Empty bins (short bodies) borrow a non-empty bin's value; an
    empty body gives all :data:`EMPTY`.
    """
    sig = np.full(K, EMPTY, dtype=np.uint64)
    if sh.size == 0:
        return sig
    np.minimum.at(sig, (sh >> _BIN_SHIFT).astype(np.intp), sh)
    return _densify(sig)


def _densify(sig: U64) -> U64:
    """Fill the empty bins of a signature that has at least one full bin (in place)."""
    empty = np.flatnonzero(sig == EMPTY)
    if empty.size:
        probes = _probe_order()[empty]
        nonempty = sig != EMPTY
        first_hit = nonempty[probes].argmax(axis=1)
        sig[empty] = sig[probes[np.arange(empty.size), first_hit]]
    return sig


def estimate(a: U64, b: U64) -> float:
    """Jaccard similarity estimated from two signatures."""
    return float(np.count_nonzero(a == b)) / K


def signature_to_bytes(sig: U64) -> bytes:
    return sig.astype("<u8").tobytes()


def signatures_from_bytes(blob: bytes, count: int) -> npt.NDArray[np.uint64]:
    """``count`` signatures packed back to back -> array of shape (count, K)."""
    arr = np.frombuffer(blob, dtype="<u8")
    if arr.dtype != np.uint64:  # a big-endian machine; elsewhere no copy is made
        arr = arr.astype(np.uint64)
    return arr.reshape(count, K)


@dataclass(frozen=True, slots=True, eq=False)
class Fingerprint:
    """What ingest stores and looks up for an article."""

    content_hash: bytes
    signature: U64


def fingerprint(article: Article) -> Fingerprint:
    """Content hash and signature at once; cheaper than
    ``signature(shingles(...))``, which sorts shingles the signature never needs sorted."""
    return Fingerprint(content_hash(article), signature(_shingle_hashes(article.paragraphs)))


_SEP = 0x01  # never an output of the folding table: marks where one body ends


def _normalise_many(texts: Sequence[str]) -> list[bytes]:
    """:func:`normalise` of many texts (each a joined body) in one vectorised pass.

    The texts are folded back to back with a separator between them; a space
    survives only after a letter or digit, and not right before a separator
    or the end, which is :func:`_squeeze` within each text."""
    joined = "\0".join(texts)
    ascii_only = joined.isascii()
    if ascii_only:
        folded: npt.NDArray[Any] = _ascii_table().take(
            np.frombuffer(joined.encode("ascii"), dtype=np.uint8))
    else:
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        folded = _fold_table().take(cps, mode="clip")
        if cps.size and int(cps.max()) > 0xFFFF:
            astral = np.flatnonzero(cps > 0xFFFF)
            folded[astral] = [_fold_one(cp) for cp in cps[astral].tolist()]
    if folded.size == 0:
        return [b""] * len(texts)
    folded[np.cumsum([len(t) + 1 for t in texts[:-1]], dtype=np.intp) - 1] = _SEP
    space = folded == _SPACE
    keep = ~space
    keep[1:] |= space[1:] & ~space[:-1] & (folded[:-1] != _SEP)
    folded = folded[keep]
    space = folded == _SPACE
    space[:-1] &= folded[1:] == _SEP
    if space.any():
        folded = folded[~space]
    if ascii_only:
        return bytes(folded.data).split(b"\x01")
    text = bytes(folded.data).decode("utf-32-le", "surrogatepass")
    return [t.encode("utf-8", "surrogatepass") for t in text.split("\x01")]


def fingerprints(articles: Sequence[Article]) -> list[Fingerprint]:
    """:func:`fingerprint` of many articles, equal value for value, with the
    numpy work done once for all of them (a feed's dozens of short bodies
    spend more on the calls than on the arithmetic)."""
    n = len(articles)
    if n == 0:
        return []
    bodies = _normalise_many([" ".join(a.paragraphs) for a in articles])
    # A tiny body is one shingle (see _shingle_hashes); an empty one has none.
    bodies = [b.ljust(8, b"\0") if 0 < len(b) < 8 else b for b in bodies]
    lengths = np.array([len(b) for b in bodies], dtype=np.intp)
    data = b"".join(bodies)
    sigs = np.full((n, K), EMPTY, dtype=np.uint64)
    if len(data) >= 8:
        starts = np.cumsum(lengths) - lengths
        owner = np.repeat(np.arange(n, dtype=np.intp), lengths)[: len(data) - 7]
        # Windows that start inside a body and end inside it too.
        valid = np.arange(len(data) - 7, dtype=np.intp) - starts[owner] < (lengths - 7)[owner]
        windows: U64 = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
        h = _mix(windows[valid])
        slot = owner[valid] * K + (h >> _BIN_SHIFT).astype(np.intp)
        flat = sigs.reshape(-1)
        np.minimum.at(flat, slot, h)
        for i in np.flatnonzero((sigs == EMPTY).any(axis=1) & (lengths > 0)).tolist():
            sigs[i] = _densify(sigs[i])
    return [Fingerprint(content_hash(a), sigs[i]) for i, a in enumerate(articles)]


# ---------------------------------------------------------------------------
# the decision


class Candidate(NamedTuple):
    """A stored body verified against an incoming one."""

    entry_id: str
    similarity: float


@dataclass(frozen=True, slots=True)
class Match:
    decision: Decision  # NEW, REVISED or DUPLICATE
    entry_id: str | None
    similarity: float


def verify(article: Article, bodies: Iterable[VersionBody]) -> list[Candidate]:
    """Exact similarity of the article's body to each stored body in its own
    section (near duplicates only count within a section); others are left out."""
    mine: U64 | None = None
    out: list[Candidate] = []
    for body in bodies:
        if body.section != article.section:
            continue
        if mine is None:
            mine = shingles(article.paragraphs)
        out.append(Candidate(body.entry_id, _overlap(mine, shingles(body.paragraphs))))
    return out


def decide(exact_entry: str | None, candidates: Iterable[tuple[str, float]],
           threshold: float) -> Match:
    """The decision for one article.

    ``exact_entry`` is the entry holding a version with the same content
    hash (the exact lookup); ``candidates`` are verified near duplicates as
    (entry id, similarity), best-ranked first.  The most similar candidate at
    or above ``threshold`` wins, the earlier one on a tie; ``similarity``
    reports the best score even for NEW.
    """
    if exact_entry is not None:
        return Match(Decision.DUPLICATE, exact_entry, 1.0)
    best: tuple[str, float] | None = None
    for entry_id, score in candidates:
        if best is None or score > best[1]:
            best = (entry_id, score)
    if best is None:
        return Match(Decision.NEW, None, 0.0)
    if best[1] >= threshold:
        return Match(Decision.REVISED, best[0], best[1])
    return Match(Decision.NEW, None, best[1])
