"""The near-duplicate index: which stored bodies may be nearly the same as a new one.

MinHash signatures (:func:`feedsvc.dedup.signature`) are cut into bands
(:func:`bands_for` picks how many for the similarity threshold) and each
band is hashed to a bucket key (:func:`band_keys`, vectorised over many
signatures).  :class:`LshIndex` maps bucket keys to version ids, so that
only bodies sharing a band become candidates, which :func:`feedsvc.dedup.verify`
then checks with the exact similarity.  It is pure and in memory: it holds
the versions a run adds (:mod:`feedsvc.deduper`), while the store keeps
every version's keys in an indexed table (:mod:`feedsvc.store.bands`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

from .dedup import EMPTY, U64, Fingerprint, K, mix_ints


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
        self.row_mult = mix_ints(range(1, rows + 1))
        self.band_salt = mix_ints(range(1000, 1000 + bands))

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
        counts = self.shared_counts(buckets)
        return sorted(counts, key=lambda k: (-counts[k], -k))[:limit]

    def shared_counts(self, buckets: list[int] | None) -> Counter[int]:
        """How many bands each indexed key shares with ``buckets`` (a
        signature's :meth:`band_keys`), for the keys that share any."""
        if buckets is None:
            return Counter()
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
        return Counter(found)
