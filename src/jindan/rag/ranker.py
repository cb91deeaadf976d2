"""The ranking both intents share, over any vector store: the service and `jindan eval retrieval` use this one
path, so an evaluation measures what users get.

Candidates come from the store (dense; with ``search.hybrid`` the store's sparse morpheme vectors add
candidates too, and every candidate gets its cosine back before fusion, so the store's rank fusion never
replaces a score). The intents then rank them (:mod:`jindan.rag.intents`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from jindan.rag.intents import FindWeights, anchor_of, rank_find
from jindan.rag.rerank import expansion_rerank, topic_rerank
from jindan.rag.sparse import SparseEncoder
from jindan.settings import SearchSettings
from jindan.vectors.base import Filter, Hit, PointId, Vector, VectorStore

Texts = Callable[[Sequence[PointId]], Mapping[PointId, str]]


class SearchObserver(Protocol):
    """Told how long each vector search took (metrics); must not raise."""

    def searched(self, store: str, seconds: float) -> None: ...


class Ranker:
    def __init__(
        self,
        store: VectorStore,
        collection: str,
        texts: Texts,
        cfg: SearchSettings | None = None,
        sparse: SparseEncoder | None = None,
        observer: SearchObserver | None = None,
    ) -> None:
        self.store, self.collection, self.texts = store, collection, texts
        self.observer = observer
        self.cfg = cfg or SearchSettings()
        self.sparse = sparse if self.cfg.hybrid else None
        self.weights = FindWeights(self.cfg.ngram_weight, self.cfg.lexical_weight, self.cfg.near_exact)

    def candidates(self, vector: Vector, flt: Filter | None, text: str | None = None) -> list[Hit]:
        vec = np.asarray(vector, np.float32)
        sparse = self.sparse.encode([text])[0] if self.sparse is not None and text else None
        start = time.perf_counter()
        hits = self.store.search(self.collection, vec, k=self.cfg.candidates, flt=flt, sparse=sparse)
        if self.observer is not None:
            self.observer.searched(self.store.name, time.perf_counter() - start)
        if sparse is not None and hits:  # the store fused ranks: give every candidate its cosine back
            stored = {p.id: p.vector for p in self.store.retrieve(self.collection, [h.id for h in hits], True)}
            hits = [Hit(h.id, float(stored[h.id] @ vec), h.payload) for h in hits if h.id in stored]
            hits.sort(key=lambda h: h.score, reverse=True)
        return hits

    def find(self, text: str, vector: Vector, k: int, flt: Filter | None = None) -> list[Hit]:
        """The question the student typed or pasted: its closest match first, always."""
        hits = self.candidates(vector, flt, text)
        return rank_find(text, hits, self.texts([h.id for h in hits]), k, self.weights)

    def anchor(self, text: str, vector: Vector, flt: Filter | None = None) -> PointId | None:
        """The bank question a text is a copy of, if it is one (found the way *find* finds it)."""
        hits = self.candidates(vector, flt, text)
        return anchor_of(text, hits, self.texts([h.id for h in hits]), self.cfg.anchor_share, self.weights)

    def similar(
        self,
        k: int,
        flt: Filter | None = None,
        *,
        text: str | None = None,
        vector: Vector | None = None,
        anchor: PointId | None = None,
    ) -> list[Hit]:
        """Questions like this one (by ``anchor`` id, or by text): itself excluded, same topic favoured."""
        flt = flt or Filter()
        if anchor is None and text is not None and vector is not None:
            anchor = self.anchor(text, vector, flt)
        prior: dict[object, float] = {}
        if anchor is not None:
            flt = replace(flt, exclude_ids=[*flt.exclude_ids, anchor])
            stored = self.store.retrieve(self.collection, [anchor], with_vectors=True)
            if stored and stored[0].vector.size:
                vector = stored[0].vector  # the question's own passage is a better probe than the typed text
                prior = {stored[0].payload.get(self.cfg.topic_field): self.cfg.anchor_weight}
        if vector is None:
            return []
        hits = self.candidates(vector, flt)
        if self.cfg.rerank == "none":
            return hits[:k]
        if any(h.payload.get(self.cfg.topic_field) for h in hits):
            cfg = self.cfg
            return topic_rerank(
                hits, k, field=cfg.topic_field, beta=cfg.topic_beta, temperature=cfg.topic_temperature, prior=prior
            )
        return expansion_rerank(hits, k, self.store, self.collection, vector, weight=self.cfg.expansion_weight)
