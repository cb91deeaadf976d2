"""The ranking both intents share, over any vector store: the service and `jindan eval retrieval` use this one
path, so an evaluation measures what users get.

Candidates come from the store (dense; with ``search.hybrid`` the store's sparse morpheme vectors add
candidates too, and every candidate gets its cosine back before fusion, so the store's rank fusion never
replaces a score). The intents then rank them (:mod:`jindan.rag.intents`). For *similar* on a bank with
subjects, the subject is decided first (the question's own, the one asked for, or inferred from the text:
:mod:`jindan.rag.topics`) and that subject's questions come first, closest first: results on one topic, with
how sure the choice was. A bank without subjects is ranked by the probe's neighbourhood (average query
expansion), the typed problem's terms, its curriculum units (:mod:`jindan.rag.curriculum`) and the bank's latent
topics (:mod:`jindan.rag.latent`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from jindan.rag.curriculum import unit_agreement
from jindan.rag.intents import FindWeights, anchor_of, overlaps, rank_find
from jindan.rag.latent import LatentTopics
from jindan.rag.rerank import expansion_rerank, topic_rerank
from jindan.rag.sparse import SparseEncoder
from jindan.rag.term_weights import TermPool
from jindan.rag.topics import TopicGuess, TopicModel, features, infer, neighbour_votes, split_solution
from jindan.settings import SearchSettings
from jindan.vectors.base import Filter, Hit, PointId, Vector, VectorStore

Texts = Callable[[Sequence[PointId]], Mapping[PointId, str]]


COPY_SHARE = 0.9  # a text holding this share of a question's character pairs is that question, named or not


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
        topics: TopicModel | Callable[[], TopicModel | None] | None = None,
        latent: LatentTopics | Callable[[], LatentTopics | None] | None = None,
        worked: Texts | None = None,
    ) -> None:
        self.store, self.collection, self.texts = store, collection, texts
        self.worked = worked or texts  # each question as the topic model reads it (`index.topic_text`), or alone
        self.observer = observer
        self._topics = topics  # the bank's topic model, or how to get it (read only when a text needs it)
        self._latent = latent  # a bank without subjects: its clusters, or how to get them
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
        found = self.anchor_share(text, vector, flt)
        return found[0] if found else None

    def anchor_share(self, text: str, vector: Vector, flt: Filter | None = None) -> tuple[PointId, float] | None:
        """The anchor and the share of the text's character pairs it holds."""
        hits = self.candidates(vector, flt, text)
        texts = self.texts([h.id for h in hits])
        top = anchor_of(text, hits, texts, self.cfg.anchor_share, self.weights)
        if top is None:
            return None
        return top, overlaps(text, [h for h in hits if h.id == top], texts)[top]

    def similar(
        self,
        k: int,
        flt: Filter | None = None,
        *,
        text: str | None = None,
        vector: Vector | None = None,
        anchor: PointId | None = None,
    ) -> list[Hit]:
        """Questions like this one (by ``anchor`` id, or by text): itself excluded, same topic first."""
        return self.similar_topic(k, flt, text=text, vector=vector, anchor=anchor)[0]

    def similar_topic(
        self,
        k: int,
        flt: Filter | None = None,
        *,
        text: str | None = None,
        vector: Vector | None = None,
        anchor: PointId | None = None,
    ) -> tuple[list[Hit], TopicGuess | None]:
        """:meth:`similar` and the subject it ranked for (None: a bank without subjects, or no ranking)."""
        flt = flt or Filter()
        share = 1.0
        if anchor is None and text is not None and vector is not None:
            found = self.anchor_share(text, vector, flt)
            anchor, share = found if found else (None, 0.0)
        asked = vector
        anchor_subject = None
        if anchor is not None:
            flt = replace(flt, exclude_ids=[*flt.exclude_ids, anchor])
            stored = self.store.retrieve(self.collection, [anchor], with_vectors=True)
            if stored and stored[0].vector.size:
                vector = stored[0].vector  # the question's own passage is a better probe than the typed text
                anchor_subject = stored[0].payload.get(self.cfg.topic_field)
        if vector is None:
            return [], None
        hits = self.candidates(vector, flt)
        if self.cfg.rerank == "none":
            return hits[:k], None
        field = self.cfg.topic_field
        # no candidate with a subject: a bank without subjects, or a filter that matched nothing (then the
        # subject is still the one chosen or inferred, with no questions on it)
        if not any(h.payload.get(field) for h in hits) and (hits or self.topics is None):
            strong = anchor is not None and share >= self.cfg.anchor_strong_share  # the text is a bank question
            # a typed problem the bank does not hold reads its own terms; a bank question, its worked solution
            words, units = self._lexical(None if strong else text, anchor if strong else None, hits)
            return expansion_rerank(
                hits,
                k,
                self.store,
                self.collection,
                vector,
                weight=self.cfg.expansion_weight,
                words=words,
                lexical=self.cfg.expansion_lexical,
                latent=self.latent if self.cfg.latent_topics > 0 else None,
                agreement=self.cfg.latent_topics,
                units=units,
                unit_weight=self.cfg.expansion_units,
            ), None
        guess = self.topic(asked, text, hits, (str(anchor_subject), share) if anchor_subject else None)
        chosen = flt.equals.get(field)
        if chosen is not None:  # the subject is fixed by the filter: ranked by similarity, the guess kept to show
            scores = guess.scores if guess is not None and guess.source != "anchor" else ((str(chosen), 1.0),)
            return hits[:k], TopicGuess(str(chosen), dict(scores).get(str(chosen), 0.0), "chosen", False, scores)
        if guess is None or not self.cfg.topic_model:  # the earlier ranking: a soft vote, the anchor's subject ahead
            prior = {anchor_subject: self.cfg.anchor_weight} if anchor_subject else {}
            cfg = self.cfg
            ranked = topic_rerank(
                hits, k, field=field, beta=cfg.topic_beta, temperature=cfg.topic_temperature, prior=prior
            )
            return ranked, guess
        return self._subject_first(hits, k, flt, vector, guess.subject), guess

    def _lexical(
        self, text: str | None, own: PointId | None, hits: Sequence[Hit]
    ) -> tuple[TermPool | None, dict[PointId, float] | None]:
        """A bank without subjects, its questions read once: the typed text's terms against the candidates'
        questions (as find reads them), and the curriculum units of the text, or of the bank question ``own`` (its
        worked solution too), against each candidate's question and worked solution."""
        cfg = self.cfg
        want_words = bool(text) and cfg.expansion_lexical > 0
        if not (want_words or ((text or own is not None) and cfg.expansion_units > 0)):
            return None, None
        ids = [*([own] if own is not None else []), *(h.id for h in hits)]
        read = {i: split_solution(t) for i, t in self.worked(ids).items()}  # (problem, problem and solution)
        words = None
        if want_words and text:
            words = TermPool(features(text), {h.id: features(read[h.id][0]) for h in hits if h.id in read})
        probe = read[own][1] if own is not None and own in read else text
        if not probe or cfg.expansion_units == 0:
            return words, None
        return words, unit_agreement(probe, {h.id: read[h.id][1] for h in hits if h.id in read})

    @property
    def latent(self) -> LatentTopics | None:
        """The latent topics of a bank without subjects (None: not clustered)."""
        return self._latent() if callable(self._latent) else self._latent

    @property
    def topics(self) -> TopicModel | None:
        """The bank's topic model (None: not trained, or a bank without subjects)."""
        return self._topics() if callable(self._topics) else self._topics

    def topic(
        self, asked: Vector | None, text: str | None, hits: Sequence[Hit], anchor: tuple[str, float] | None
    ) -> TopicGuess | None:
        """The subject to practise: the question's own (by id, or a near-copy of it), else inferred from the
        text by the bank's topic model, the neighbours' subjects, and a weaker anchor."""
        cfg = self.cfg
        share = cfg.anchor_strong_share
        if anchor is not None and share <= anchor[1] < COPY_SHARE and self._names_another(text, anchor[0]):
            share = math.inf  # "일차함수 ..." copied from an 이차함수 question: a sibling, not the question itself
        strong = anchor is not None and anchor[1] >= share  # the anchor decides: no model needed
        votes = neighbour_votes([h.payload.get(cfg.topic_field) for h in hits], [h.score for h in hits])
        model = self.topics if cfg.topic_model and asked is not None and not strong else None
        return infer(
            model,
            asked if asked is not None else np.zeros(1),
            text,
            votes,
            anchor=anchor,
            strong_share=share,
            uncertain_below=cfg.subject_uncertain,
            curriculum=cfg.curriculum_terms,
        )

    def _names_another(self, text: str | None, subject: str) -> bool:
        """The text names a subject of the bank at the start of a word, and not ``subject``."""
        model = self.topics if text and self.cfg.topic_model else None
        if model is None or not text:
            return False
        named = model.named_words(text)
        return bool(named) and subject not in named

    def _subject_first(self, hits: list[Hit], k: int, flt: Filter, vector: Vector, subject: str) -> list[Hit]:
        """The subject's questions first (closest first), topped up from the store when the candidates hold
        fewer than ``k`` of them; the other candidates after them."""
        field = self.cfg.topic_field
        same = [h for h in hits if h.payload.get(field) == subject]
        if len(same) < k:
            more = self.candidates(vector, replace(flt, equals={**flt.equals, field: subject}))
            seen = {h.id for h in same}
            same += [h for h in more if h.id not in seen]
        rest = [h for h in hits if h.payload.get(field) != subject]
        return [*same[:k], *rest][:k]
