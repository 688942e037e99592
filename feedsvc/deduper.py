"""The dedup decision both ingest paths share: exact and near-duplicate
lookups of an article against what is stored.

Seed files (:mod:`feedsvc.seeds.ingest`) and remote entries (:mod:`feedsvc.remote.ingest`)
decide alike through :class:`Deduper`, which sits below both: it knows the
store only through the two small protocols here, so neither ingest path
imports the other and a second store backend needs only these lookups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

from . import dedup, lsh
from .models import Article, VersionBody

#: Candidates compared exactly per new text, the most similar first.
CANDIDATES = 16


class Lookups(Protocol):
    """Where exact and near-duplicate candidates are looked up, and where a
    new version's band keys are written: the store, or a bulk batch that
    also sees its own pending rows."""

    def entry_for_content_hash(self, h: bytes) -> str | None: ...

    def version_bodies(self, version_ids: Iterable[int]) -> list[VersionBody]: ...

    def add_bands(self, version: int, keys: list[int] | None) -> None: ...


class DedupStore(Lookups, Protocol):
    """A store that keeps the near-duplicate index (band keys, indexed)."""

    def ensure_bands(self, threshold: float) -> bool: ...

    def versions_sharing(self, keys: list[int], limit: int = CANDIDATES
                         ) -> list[tuple[int, int]]: ...


class Deduper:
    """Exact and near-duplicate lookups against the store, for one run.

    Near-duplicate candidates come from the store's band-key table, asked
    with the new text's keys only, and from a small in-memory index of the
    versions this run added (a bulk batch writes its rows only when it ends).
    Nothing is loaded up front: the work per file does not grow with the
    archive.  A store that had no keys when the run began (a first ingest)
    is never asked, since everything it holds the run added.
    """

    def __init__(self, store: DedupStore, threshold: float) -> None:
        self.store = store
        self.threshold = threshold
        self._added = lsh.LshIndex(threshold)
        self._stored: bool | None = None  # whether the store had keys; None: not asked yet

    def _store_has_keys(self) -> bool:
        if self._stored is None:
            self._stored = self.store.ensure_bands(self.threshold)
        return self._stored

    def band_keys(self, fps: Sequence[dedup.Fingerprint | None]) -> list[list[int] | None]:
        """LSH keys of many fingerprints in one vectorised step (None: no body)."""
        return lsh.fingerprint_band_keys(fps, self.threshold)

    def decide(self, article: Article, fp: dedup.Fingerprint, keys: list[int] | None, *,
               via: Lookups | None = None) -> dedup.Match:
        """NEW, REVISED or DUPLICATE for ``article``; ``keys`` are its :meth:`band_keys`."""
        exact = (self.store if via is None else via).entry_for_content_hash(fp.content_hash)
        if exact is not None:
            return dedup.decide(exact, (), self.threshold)
        return self.near(article, keys, via=via)

    def near(self, article: Article, keys: list[int] | None, *,
             via: Lookups | None = None) -> dedup.Match:
        """:meth:`decide` for an article whose exact text is known not to be stored."""
        found = self.candidates(keys)
        # Bodies are asked for only with candidates: a store call writes held rows.
        bodies = (self.store if via is None else via).version_bodies(found) if found else []
        return dedup.decide(None, dedup.verify(article, bodies), self.threshold)

    def candidates(self, keys: list[int] | None) -> list[int]:
        """Versions sharing a band with ``keys``: most shared bands first, then
        the newest; at most :data:`CANDIDATES`."""
        if keys is None:  # an empty body matches nothing
            return []
        counts: Counter[int] = self._added.shared_counts(keys)
        if self._store_has_keys():
            # A version of this run already committed is found in both: same count.
            for version, shared in self.store.versions_sharing(keys, CANDIDATES):
                counts[version] = max(counts[version], shared)
        return sorted(counts, key=lambda v: (-counts[v], -v))[:CANDIDATES]

    def added(self, version: int, keys: list[int] | None, *, via: Lookups | None = None) -> None:
        """Index a version just written (``via`` the batch that wrote it)."""
        self._store_has_keys()  # keys made with another banding are rebuilt first
        self._added.add_keys(version, keys)
        (self.store if via is None else via).add_bands(version, keys)
