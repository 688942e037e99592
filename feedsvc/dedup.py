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
MinHash :func:`signature` is taken from them, and :class:`LshIndex` buckets
signatures by bands so that only bodies sharing a band become candidates.
Candidates are then verified with the exact :func:`similarity`.
datasketch offers MinHash and LSH, but its per-shingle hashing is two orders
of magnitude slower than the vectorised form here, and its LSH keeps Python
dicts of lists per band (over 100 bytes an entry against 16 in the sorted
arrays used below).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import Counter
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


def _mix_ints(values: Sequence[int]) -> U64:
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
    seeds = _mix_ints(range(K * K)).reshape(K, K)
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
# LSH index


def bands_for(threshold: float) -> tuple[int, int]:
    """(bands, rows) of the LSH banding for a similarity threshold.

    Two bodies of similar length at similarity t have Jaccard t/(2-t) or more
    (0.67 at t = 0.8; a short body wholly inside a longer one can go down to
    t², 0.64).  The most selective banding that makes such a pair a candidate
    with at least 95 % probability is chosen: 16x4 for t >= 0.78 (97 % at
    0.8, 94.7 % for the t² case), 21x3 for t >= 0.68, 32x2 below.
    """
    jaccard = threshold / (2 - threshold)
    for rows in (4, 3, 2):
        bands = K // rows
        if 1 - (1 - jaccard**rows) ** bands >= 0.95:
            return bands, rows
    return K, 1


class _Banding:
    """Bucket keys of the bands of signatures: sum of row value x row
    multiplier + band salt, mod 2**64.  The values are already hashes, so no
    further mixing is needed; a key collision would only add a candidate that
    verification then rejects."""

    def __init__(self, bands: int, rows: int) -> None:
        self.bands, self.rows = bands, rows
        self.row_mult = _mix_ints(range(1, rows + 1))
        self.band_salt = _mix_ints(range(1000, 1000 + bands))

    def buckets(self, sigs: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        """(n, K) signatures -> (n, bands) bucket keys."""
        used = sigs[:, : self.bands * self.rows].reshape(len(sigs), self.bands, self.rows)
        combined: U64 = (used * self.row_mult).sum(axis=2, dtype=np.uint64)
        return combined + self.band_salt


@cache
def _banding_for(threshold: float) -> _Banding:
    return _Banding(*bands_for(threshold))


def band_keys(sigs: npt.NDArray[np.uint64], threshold: float) -> list[list[int] | None]:
    """The LSH bucket keys of many (n, K) signatures at once, for
    :meth:`LshIndex.add_keys` and :meth:`LshIndex.query_keys`; None for an
    empty body.  One vectorised call instead of one per body: a bulk ingest's way in."""
    if len(sigs) == 0:
        return []
    keys: list[list[int] | None] = _banding_for(threshold).buckets(sigs).tolist()
    for i in np.flatnonzero((sigs == EMPTY).all(axis=1)).tolist():
        keys[i] = None
    return keys


def fingerprint_band_keys(fps: Sequence[Fingerprint | None], threshold: float
                          ) -> list[list[int] | None]:
    """:func:`band_keys` of many fingerprints; None for one not computed or an empty body."""
    real = [(i, fp.signature) for i, fp in enumerate(fps) if fp is not None]
    keys: list[list[int] | None] = [None] * len(fps)
    if real:
        sigs = np.stack([sig for _, sig in real])
        for (i, _), k in zip(real, band_keys(sigs, threshold), strict=True):
            keys[i] = k
    return keys


class LshIndex:
    """Banded MinHash LSH over version ids, sub-quadratic and compact.

    Buckets live in one sorted uint64 array (with the version ids alongside),
    16 bytes per band per body, 26 MB for 100k bodies at 16 bands, plus a
    directory of where each leading-bits prefix starts (one 4-byte slot per
    bucket or so), so that a lookup reads two or three places in memory
    instead of the twenty of a binary search; for 16 lookups that is cheaper
    done on Python ints than through a dozen numpy calls.  New bodies go to a
    small dict first, merged into the arrays in bulk so that adding stays
    O(1) amortised without a per-body array copy.  A pending bucket holds one
    key (the common case, which ``dict.update`` adds at C speed); the rare
    bucket that several pending bodies share also has a list in ``_shared``.
    """

    _MERGE_AT = 131_072  # pending bucket entries before a merge

    def __init__(self, threshold: float = 0.8) -> None:
        self._banding = _banding_for(threshold)
        self._buckets: U64 = np.empty(0, dtype=np.uint64)
        self._keys: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._shift = 64
        self._directory: npt.NDArray[np.uint32] = np.zeros(2, dtype=np.uint32)
        self._views = (self._buckets.data, self._keys.data, self._directory.data)
        self._pending: dict[int, int] = {}
        self._shared: dict[int, list[int]] = {}  # bucket -> every pending key in it
        self._pending_count = 0
        self._last: tuple[bytes, U64 | None] = (b"", None)

    def _stored(self, buckets: U64, keys: npt.NDArray[np.int64]) -> None:
        """Take sorted bucket/key arrays and index their prefixes."""
        self._buckets, self._keys = buckets, keys
        bits = min(24, max(1, int(buckets.size).bit_length()))
        self._shift = 64 - bits
        counts = np.bincount((buckets >> np.uint64(self._shift)).astype(np.intp),
                             minlength=1 << bits)
        self._directory = np.zeros(counts.size + 1, dtype=np.uint32)
        np.cumsum(counts, out=self._directory[1:])
        self._views = (buckets.data, keys.data, self._directory.data)

    @classmethod
    def from_arrays(cls, keys: npt.ArrayLike, sigs: npt.ArrayLike,
                    threshold: float = 0.8) -> LshIndex:
        """Bulk build from version ids and their (n, K) signatures."""
        index = cls(threshold)
        key_arr = np.asarray(keys, dtype=np.int64)
        sig_arr = np.asarray(sigs, dtype=np.uint64).reshape(len(key_arr), K)
        bands = index._banding.bands
        buckets = np.empty((len(key_arr), bands), dtype=np.uint64)
        real = np.empty(len(key_arr), dtype=bool)
        for at in range(0, len(key_arr), 8192):  # in slices: bounded temporaries
            part = sig_arr[at:at + 8192]
            buckets[at:at + 8192] = index._banding.buckets(part)
            real[at:at + 8192] = (part != EMPTY).any(axis=1)
        flat = buckets[real].ravel()
        order = np.argsort(flat, kind="stable")
        index._stored(flat[order], np.repeat(key_arr[real], bands)[order])
        return index

    def __len__(self) -> int:
        """Number of bodies indexed (empty bodies are never indexed)."""
        return (self._keys.size + self._pending_count) // self._banding.bands

    def _buckets_of(self, sig: npt.ArrayLike) -> U64 | None:
        arr = np.asarray(sig, dtype=np.uint64).reshape(1, K)
        raw = arr.tobytes()
        if self._last[0] == raw:  # ingest queries a signature, then adds it
            return self._last[1]
        buckets: U64 | None = None
        if not (arr[0, 0] == EMPTY and (arr == EMPTY).all()):  # an empty body matches nothing
            buckets = self._banding.buckets(arr)[0]
        self._last = (raw, buckets)
        return buckets

    def add(self, key: int, sig: npt.ArrayLike) -> None:
        buckets = self._buckets_of(sig)
        if buckets is not None:
            self.add_keys(key, buckets.tolist())

    def add_keys(self, key: int, buckets: list[int] | None) -> None:
        """:meth:`add` with the signature's :meth:`band_keys`."""
        if buckets is None:
            return
        pending, shared = self._pending, self._shared
        clash = pending.keys() & buckets
        if clash:
            for bucket in clash:
                shared.setdefault(bucket, [pending[bucket]]).append(key)
            pending.update((b, key) for b in buckets if b not in clash)
        else:
            pending.update(zip(buckets, itertools.repeat(key)))
        self._pending_count += len(buckets)
        if self._pending_count >= self._MERGE_AT:
            self._merge()

    def _merge(self) -> None:
        pending, shared = self._pending, self._shared
        buckets = np.fromiter(pending.keys(), dtype=np.uint64, count=len(pending))
        keys = np.fromiter(pending.values(), dtype=np.int64, count=len(pending))
        if shared:  # the first key of a shared bucket is in ``pending`` already
            buckets = np.concatenate((buckets, np.array(
                [b for b, ks in shared.items() for _ in ks[1:]], dtype=np.uint64)))
            keys = np.concatenate((keys, np.array(
                [k for ks in shared.values() for k in ks[1:]], dtype=np.int64)))
        order = np.argsort(buckets, kind="stable")
        buckets, keys = buckets[order], keys[order]
        at = np.searchsorted(self._buckets, buckets, side="right")
        self._stored(np.insert(self._buckets, at, buckets), np.insert(self._keys, at, keys))
        pending.clear()
        shared.clear()
        self._pending_count = 0

    def query(self, sig: npt.ArrayLike, limit: int = 16) -> list[int]:
        """Keys sharing at least one band with ``sig``: most shared bands first,
        then the newest (highest key); at most ``limit`` of them."""
        buckets = self._buckets_of(sig)
        return [] if buckets is None else self.query_keys(buckets.tolist(), limit)

    def query_keys(self, buckets: list[int] | None, limit: int = 16) -> list[int]:
        """:meth:`query` with the signature's :meth:`band_keys`."""
        if buckets is None:
            return []
        found: list[int] = []
        stored, keys, directory = self._views
        shift, pending, shared = self._shift, self._pending, self._shared
        for bucket in buckets:
            at, end = directory[bucket >> shift], directory[(bucket >> shift) + 1]
            while at < end:
                if stored[at] == bucket:
                    found.append(keys[at])
                at += 1
            key = pending.get(bucket)
            if key is not None:
                if bucket in shared:
                    found += shared[bucket]
                else:
                    found.append(key)
        if not found:
            return []
        counts = Counter(found)
        return sorted(counts, key=lambda k: (-counts[k], -k))[:limit]


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
