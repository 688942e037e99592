"""The dedup decision both ingest paths share: exact and near-duplicate
lookups of an article against what is stored.

Seed files (:mod:`feedsvc.seeds.ingest`) and remote entries (:mod:`feedsvc.remote.ingest`)
decide alike through :class:`Deduper`, which sits below both: it knows the
store only through the two small protocols here, so neither ingest path
imports the other and a second store backend needs only these lookups.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from . import dedup, lsh
from .models import Article, VersionBody


class Lookups(Protocol):
    """Where exact and near-duplicate candidates are looked up: the store, or a
    bulk batch that also sees its own pending rows."""

    def entry_for_content_hash(self, h: bytes) -> str | None: ...

    def version_bodies(self, version_ids: Iterable[int]) -> list[VersionBody]: ...


class DedupStore(Lookups, Protocol):
    """A store the near-duplicate index can be loaded from."""

    def load_signatures(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]: ...


class Deduper:
    """Exact and near-duplicate lookups against the store.

    The LSH index is built lazily, the first time a run meets a file that is
    neither unchanged nor an exact duplicate, so a re-run over an unchanged
    folder never pays for loading it.
    """

    def __init__(self, store: DedupStore, threshold: float) -> None:
        self.store = store
        self.threshold = threshold
        self._index: lsh.LshIndex | None = None

    @property
    def index(self) -> lsh.LshIndex:
        if self._index is None:
            keys, sigs = self.store.load_signatures()
            self._index = lsh.LshIndex.from_arrays(keys, sigs, self.threshold)
        return self._index

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
        found = self.index.query_keys(keys)
        # Bodies are asked for only with candidates: a store call writes held rows.
        bodies = (self.store if via is None else via).version_bodies(found) if found else []
        return dedup.decide(None, dedup.verify(article, bodies), self.threshold)
