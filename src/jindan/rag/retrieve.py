"""Similar-question and material retrieval over the configured embedder and vector store.

Results are hydrated from PostgreSQL (the source of truth); the vector store only ranks. A question found by
id is searched with its stored vector (no re-embedding) and excluded from its own results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import Material, Question
from jindan.embed.base import Embedder
from jindan.rag.index import MATERIAL_PREFIX
from jindan.rag.rerank import topic_rerank
from jindan.rag.sparse import SparseEncoder
from jindan.settings import SearchSettings, Settings
from jindan.vectors.base import CollectionSpec, Filter, Hit, PointId, Vector, VectorStore


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class SearchFilters:
    subject: str | None = None
    level_min: int | None = None
    level_max: int | None = None
    concepts: Sequence[str] = ()
    exclude_ids: Sequence[int] = ()
    source: str | None = None

    def to_filter(self, kind: str, extra_exclude: Sequence[PointId] = ()) -> Filter:
        equals: dict[str, str | int | bool] = {"kind": kind}
        if self.subject:
            equals["subject"] = self.subject
        if self.source:
            equals["source"] = self.source
        ranges = {}
        if self.level_min is not None or self.level_max is not None:
            ranges["level"] = (
                float(self.level_min) if self.level_min is not None else None,
                float(self.level_max) if self.level_max is not None else None,
            )
        any_of = {"concepts": list(self.concepts)} if self.concepts else {}
        return Filter(equals=equals, any_of=any_of, ranges=ranges, exclude_ids=[*self.exclude_ids, *extra_exclude])


@dataclass
class Found:
    id: int | str
    kind: str  # question | material
    score: float
    title: str
    text: str
    subject: str | None = None
    level: int | None = None
    answer: str | None = None
    explanation: str | None = None
    concepts: list[str] = field(default_factory=list)


class Retriever:
    def __init__(
        self,
        db: Database,
        store: VectorStore,
        embedder: Embedder,
        alias: str = "questions",
        search: SearchSettings | None = None,
        sparse: SparseEncoder | None = None,
    ) -> None:
        self.db, self.store, self.embedder, self.alias = db, store, embedder, alias
        self.cfg = search or SearchSettings()
        self.sparse = sparse if self.cfg.hybrid else None
        self._spec: CollectionSpec | None = None

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, store: VectorStore, embedder: Embedder) -> Retriever:
        sparse = SparseEncoder() if settings.search.hybrid else None
        return cls(db, store, embedder, settings.vectors.alias, settings.search, sparse)

    def spec(self) -> CollectionSpec:
        """The collection behind the alias; a query embedder that does not match it is refused."""
        if self._spec is None:
            spec = self.store.spec(self.alias)
            spec.check_query(self.embedder.model_id, self.embedder.dim)
            self._spec = spec
        return self._spec

    def query_vector(self, text: str) -> Vector:
        self.spec()
        vector: Vector = self.embedder.embed_queries([text])[0]
        return vector

    def similar_to(self, question_id: int, k: int = 10, filters: SearchFilters | None = None) -> list[Found]:
        self.spec()
        text = None
        stored = self.store.retrieve(self.alias, [question_id], with_vectors=True)
        if stored and stored[0].vector.size:
            vector = stored[0].vector
        else:
            with self.db.session() as s:
                q = s.get(Question, question_id)
                if q is None:
                    raise NotFound(f"question {question_id} not found")
                text = q.body
                vector = self.embedder.embed_queries([q.body])[0]
        return self.questions_near(vector, k, filters or SearchFilters(), exclude=[question_id], text=text)

    def search(self, text: str, k: int = 10, filters: SearchFilters | None = None) -> list[Found]:
        return self.questions_near(self.query_vector(text), k, filters or SearchFilters(), text=text)

    def materials(self, vector: Vector, k: int = 3, concepts: Sequence[str] = ()) -> list[Found]:
        flt = Filter(equals={"kind": "material"}, any_of={"concepts": list(concepts)} if concepts else {})
        hits = self.store.search(self.alias, vector, k=k, flt=flt)
        return self._hydrate_materials(hits)

    def rank(self, vector: Vector, k: int, flt: Filter, text: str | None = None) -> list[Hit]:
        """Candidates from the store (dense, or dense + sparse with RRF), then the configured reranker."""
        n = max(k, self.cfg.candidates) if self.cfg.rerank != "none" else k
        sparse = self.sparse.encode([text])[0] if self.sparse is not None and text else None
        hits = self.store.search(self.alias, np.asarray(vector, np.float32), k=n, flt=flt, sparse=sparse)
        if self.cfg.rerank == "topic":
            return topic_rerank(hits, k, field=self.cfg.topic_field, beta=self.cfg.topic_beta)
        return hits[:k]

    def questions_near(
        self,
        vector: Vector,
        k: int,
        filters: SearchFilters | None = None,
        exclude: Sequence[PointId] = (),
        text: str | None = None,
    ) -> list[Found]:
        flt = (filters or SearchFilters()).to_filter("question", exclude)
        return self._hydrate_questions(self.rank(vector, k, flt, text))

    def _hydrate_questions(self, hits: list[Hit]) -> list[Found]:
        ids = [int(h.id) for h in hits]
        with self.db.session() as s:
            rows = {q.id: q for q in s.scalars(select(Question).where(Question.id.in_(ids)))}
            out = []
            for h in hits:
                q = rows.get(int(h.id))
                if q is None:  # deleted in PostgreSQL, not yet re-indexed: skip rather than show a ghost
                    continue
                out.append(
                    Found(
                        q.id,
                        "question",
                        h.score,
                        f"{q.source}/{q.external_id}",
                        q.body,
                        q.subject,
                        q.level,
                        q.answer,
                        q.explanation,
                        [c.external_id for c in q.concepts],
                    )
                )
        return out

    def _hydrate_materials(self, hits: list[Hit]) -> list[Found]:
        keys = [str(h.id).removeprefix(MATERIAL_PREFIX) for h in hits]
        with self.db.session() as s:
            rows = {m.external_id: m for m in s.scalars(select(Material).where(Material.external_id.in_(keys)))}
        return [
            Found(f"{MATERIAL_PREFIX}{m.external_id}", "material", h.score, m.title, m.text, concepts=list(m.concepts))
            for h, key in zip(hits, keys, strict=True)
            if (m := rows.get(key)) is not None
        ]


def describe(found: Found) -> dict[str, Any]:
    return {k: v for k, v in found.__dict__.items() if v not in (None, [], "")}
