"""Similar-question and material retrieval over the configured embedder and vector store.

Results are hydrated from PostgreSQL (the source of truth); the vector store only ranks. Two intents
(:mod:`jindan.rag.intents`): *find* puts the question a student typed or pasted first; *similar* returns
questions like one (by id, or the question a typed or pasted text is about), itself excluded.

Queries are embedded by the model that built the collection behind the alias, re-checked every few
seconds: while ``jindan index questions`` builds a collection for a new embedder, search keeps using the old
one, and it follows the alias when it switches (no downtime, never two models mixed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import Material, Question
from jindan.db.repositories import question_cards
from jindan.embed.base import Embedder, ProviderGate
from jindan.rag.index import MATERIAL_PREFIX, searchable_text, topic_text
from jindan.rag.intents import Intent
from jindan.rag.latent import LatentTopics
from jindan.rag.ranker import Ranker, SearchObserver
from jindan.rag.rerank import AGREEMENT
from jindan.rag.sparse import SparseEncoder
from jindan.rag.topics import TopicGuess, TopicModel, load_all
from jindan.settings import SearchSettings, Settings
from jindan.vectors.base import CollectionSpec, Filter, Hit, PointId, Vector, VectorStore

ALIAS_RECHECK_S = 2.0
TOPICS_RECHECK_S = 30.0  # the topic model is re-read this often (a re-index trains it again)
EmbedderFor = Callable[[str], Embedder | None]


class NotFound(LookupError):
    pass


class UnknownSubject(LookupError):
    """A subject asked for that no question of the bank has (a 404 that names the bank's subjects)."""


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
    subject_confidence: float | None = None  # similar by text: how likely its subject is the text's


@dataclass
class Practice:
    """Similar practice for a typed problem: the subject it was ranked for, and the questions."""

    found: list[Found]
    topic: TopicGuess | None


class Retriever:
    def __init__(
        self,
        db: Database,
        store: VectorStore,
        embedder: Embedder,
        alias: str = "questions",
        search: SearchSettings | None = None,
        sparse: SparseEncoder | None = None,
        embedders: EmbedderFor | None = None,
    ) -> None:
        self.db, self.store, self.embedder, self.alias = db, store, embedder, alias
        self.cfg = search or SearchSettings()
        self.sparse = sparse if self.cfg.hybrid else None
        self.embedders = embedders
        self.observer: SearchObserver | None = None  # vector search latency (metrics)
        self._spec: CollectionSpec | None = None
        self._checked = 0.0
        self._query_embedder = embedder
        self._topics: dict[str, tuple[float, tuple[TopicModel | None, LatentTopics | None]]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, store: VectorStore, embedder: Embedder, gate: ProviderGate | None = None
    ) -> Retriever:
        """``gate``: the legacy switch, asked by a legacy embedder a collection still needs for its queries."""
        from jindan.embed.registry import embedder_for

        sparse = SparseEncoder() if settings.search.hybrid else None

        def others(model_id: str) -> Embedder | None:
            return embedder_for(settings, model_id, gate)

        return cls(db, store, embedder, settings.vectors.alias, settings.search, sparse, others)

    def spec(self) -> CollectionSpec:
        """The collection behind the alias (looked up again every few seconds) and the embedder for its
        queries: the configured one, or the model that built it; any other is refused (ModelMismatch)."""
        now = time.monotonic()
        if self._spec is None or now - self._checked > ALIAS_RECHECK_S:
            spec = self.store.spec(self.alias)
            if spec != self._spec:
                self._query_embedder = self._embedder_for(spec)
            self._spec, self._checked = spec, now
        return self._spec

    def _embedder_for(self, spec: CollectionSpec) -> Embedder:
        own = getattr(self.embedder, "for_model", None)  # auto: the model it chose for the collection
        chosen: Embedder | None = own(spec.model_id) if own is not None and spec.model_id else None
        if chosen is not None and chosen.dim == spec.dim:
            return chosen
        if spec.model_id and spec.model_id != self.embedder.model_id and self.embedders is not None:
            other = self.embedders(spec.model_id)
            if other is not None and other.dim == spec.dim:
                return other
        spec.check_query(self.embedder.model_id, self.embedder.dim)
        return self.embedder

    @property
    def query_model(self) -> str:
        """The model that embeds queries now: the one that built the collection behind the alias."""
        self.spec()
        return self._query_embedder.model_id

    @property
    def ranker(self) -> Ranker:
        name = self.spec().name
        return Ranker(
            self.store,
            name,
            self._texts,
            self.cfg,
            self.sparse,
            self.observer,
            lambda: self.topics(name),
            lambda: self._bank_topics(name)[1],
            self._worked,
        )

    def topics(self, collection: str) -> TopicModel | None:
        """The collection's topic model (trained when it was indexed), re-read every few seconds."""
        return self._bank_topics(collection)[0]

    def _bank_topics(self, collection: str) -> tuple[TopicModel | None, LatentTopics | None]:
        """The topic model, or a bank without subjects' latent topics, re-read every few seconds."""
        now = time.monotonic()
        cached = self._topics.get(collection)
        if cached is None or now - cached[0] > TOPICS_RECHECK_S:
            cached = (now, load_all(self.store, collection))
            self._topics = {collection: cached}
        return cached[1]

    def subjects(self) -> list[str]:
        """Every subject of the bank (PostgreSQL's questions), in order."""
        with self.db.session() as s:
            rows = s.execute(select(Question.subject).where(Question.subject.is_not(None)).distinct())
            return sorted(str(r[0]) for r in rows if r[0])

    def check_subject(self, subject: str | None) -> None:
        """Refuse a subject no question has (UnknownSubject, a 404), naming the bank's."""
        if subject is None:
            return
        known = self.subjects()
        if subject not in known:
            shown = ", ".join(known[:30]) or "none: this bank has no subjects"
            raise UnknownSubject(f"unknown subject {subject!r}; the bank's subjects are: {shown}")

    def query_vector(self, text: str) -> Vector:
        self.spec()
        vector: Vector = self._query_embedder.embed_queries([text])[0]
        return vector

    def similar_to(self, question_id: int, k: int = 10, filters: SearchFilters | None = None) -> list[Found]:
        """Intent *similar* for a question of the bank: itself excluded, its subject favoured."""
        ranker = self.ranker
        flt = (filters or SearchFilters()).to_filter("question")
        stored = self.store.retrieve(ranker.collection, [question_id], with_vectors=True)
        if stored and stored[0].vector.size:
            return self._hydrate_questions(ranker.similar(k, flt, anchor=question_id))
        with self.db.session() as s:  # in PostgreSQL, not indexed yet: search with its text
            q = s.get(Question, question_id)
            if q is None:
                raise NotFound(f"question {question_id} not found")
            text = q.body
        flt = (filters or SearchFilters()).to_filter("question", [question_id])
        return self._hydrate_questions(ranker.similar(k, flt, vector=self.query_vector(text)))

    def search(
        self, text: str, k: int = 10, filters: SearchFilters | None = None, intent: Intent = "find"
    ) -> list[Found]:
        """*find*: the question typed or pasted, closest match first; *similar*: questions like it, the
        question itself (when the text is a copy of one) excluded."""
        if intent == "similar":  # a subject filter here is a filter: an unknown one finds nothing, as for find
            return self.practice(text, k, filters, check=False).found
        vector = self.query_vector(text)
        flt = (filters or SearchFilters()).to_filter("question")
        return self._hydrate_questions(self.ranker.find(text, vector, k, flt))

    def practice(self, text: str, k: int = 10, filters: SearchFilters | None = None, check: bool = True) -> Practice:
        """Intent *similar* for a typed or pasted problem, with the subject it was ranked for: the problem's own
        question's when the bank holds it, else inferred from the text (``filters.subject`` picks another, one
        of the bank's: ``check`` refuses any other with UnknownSubject)."""
        filters = filters or SearchFilters()
        if check:
            self.check_subject(filters.subject)
        vector = self.query_vector(text)
        flt = filters.to_filter("question")
        hits, topic = self.ranker.similar_topic(k, flt, text=text, vector=vector)
        found = self._hydrate_questions(hits)
        if topic is not None:
            for f in found:
                f.subject_confidence = topic.of(f.subject)
        else:  # a bank without subjects: how likely each result shares the problem's latent topic
            agreement = {h.id: h.payload[AGREEMENT] for h in hits if AGREEMENT in h.payload}
            for f in found:
                f.subject_confidence = agreement.get(f.id)
        return Practice(found, topic)

    def materials(self, vector: Vector, k: int = 3, concepts: Sequence[str] = ()) -> list[Found]:
        flt = Filter(equals={"kind": "material"}, any_of={"concepts": list(concepts)} if concepts else {})
        hits = self.store.search(self.spec().name, vector, k=k, flt=flt)
        return self._hydrate_materials(hits)

    def questions_near(
        self,
        vector: Vector,
        k: int,
        filters: SearchFilters | None = None,
        exclude: Sequence[PointId] = (),
        text: str | None = None,
    ) -> list[Found]:
        """RAG context around a vector, ``exclude`` left out: with the asked ``text``, *find* (the bank's
        copy of the question, with its worked solution, first); without, *similar*."""
        flt = (filters or SearchFilters()).to_filter("question", exclude)
        if text is not None:
            return self._hydrate_questions(self.ranker.find(text, vector, k, flt))
        return self._hydrate_questions(self.ranker.similar(k, flt, vector=vector))

    def _texts(self, ids: Sequence[PointId]) -> Mapping[PointId, str]:
        """What find's lexical features read: each question's text and choices."""
        keys = [int(i) for i in ids if isinstance(i, int) or str(i).isdigit()]
        with self.db.session() as s:
            rows = s.execute(select(Question.id, Question.body, Question.choices).where(Question.id.in_(keys)))
            return {qid: searchable_text(body, choices) for qid, body, choices in rows}

    def _worked(self, ids: Sequence[PointId]) -> Mapping[PointId, str]:
        """Each question as the topic model reads it: its text and choices, then the start of its worked solution
        after the mark (``topic_text``; the bank has no subjects where the ranker asks)."""
        keys = [int(i) for i in ids if isinstance(i, int) or str(i).isdigit()]
        with self.db.session() as s:
            query = select(Question.id, Question.body, Question.choices, Question.explanation)
            rows = s.execute(query.where(Question.id.in_(keys)))
            return {qid: topic_text(None, body, explanation, choices) for qid, body, choices, explanation in rows}

    def _hydrate_questions(self, hits: list[Hit]) -> list[Found]:
        """PostgreSQL's current rows for the hits, in the hits' order, in one statement."""
        if not hits:
            return []
        with self.db.reader() as conn:
            rows = question_cards(conn, [int(h.id) for h in hits])
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
                    list(q.concepts),
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
