"""Latent topics of a bank without subjects: the clusters, their points in a real store, and the ranking of a
typed problem the bank does not hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.embed.base import Embedder
from jindan.rag.index import Indexer
from jindan.rag.latent import MIN_QUESTIONS, LatentTopics, spherical_kmeans
from jindan.rag.ranker import Ranker
from jindan.rag.rerank import AGREEMENT
from jindan.rag.retrieve import Retriever
from jindan.rag.topics import load, load_all, refresh, topics_collection
from jindan.settings import SearchSettings
from jindan.vectors.base import CollectionSpec, Filter, Hit, Point, PointId
from jindan.vectors.qdrant_edge import QdrantEdgeStore

DIM = 16
PER_TOPIC = 40
STYLE = 1.6


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def axis(i: int) -> np.ndarray:
    return np.eye(DIM)[i]


def bank(seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    """Two topics (directions 0 and 1), and four surface styles (directions 2-5: the wording, the numbers)
    that questions of both topics share."""
    rng = np.random.default_rng(seed)
    vectors, topics = [], []
    for topic in (0, 1):
        for n in range(PER_TOPIC):
            vectors.append(unit(axis(topic) * 2 + axis(2 + n % 4) * STYLE + rng.normal(0, 0.3, DIM)))
            topics.append(topic)
    return vectors, topics


# a typed problem on topic 0 in the wording of style 2: by the cosine alone, topic 1's questions of that style
# come close
ON_TOPIC_0 = unit(axis(0) * 1.0 + axis(1) * 0.9 + axis(2) * 2.0)
HALFWAY = unit(axis(0) + axis(1))  # as much one topic as the other


def test_k_means_finds_two_clear_topics_and_a_small_bank_is_not_clustered() -> None:
    vectors, topics = bank()
    x = np.vstack(vectors)
    centroids = spherical_kmeans(x, 2, seed=0)
    label = np.argmax(x @ centroids.T, axis=1)
    assert topics[:PER_TOPIC] == [0] * PER_TOPIC  # the first half is topic 0, the second topic 1
    assert len(set(label[:PER_TOPIC])) == 1 and len(set(label[PER_TOPIC:])) == 1 and label[0] != label[-1]
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    assert LatentTopics.fit(vectors[: MIN_QUESTIONS - 1]) is None


def test_agreement_is_high_on_the_problem_s_topic_and_split_when_the_topic_is_unclear() -> None:
    vectors, topics = bank()
    latent = LatentTopics.fit(vectors)
    assert latent is not None
    m, topic = np.vstack(vectors), np.array(topics)
    own = latent.agreement(unit(axis(0) * 2 + axis(2) * STYLE), m)  # a problem like topic 0's questions
    assert own[topic == 0].mean() > 0.6 and own[topic == 1].max() < 0.05
    unclear = latent.agreement(HALFWAY, m)
    assert unclear.max() < 0.6 and min(unclear[topic == 0].mean(), unclear[topic == 1].mean()) > 0.3


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[QdrantEdgeStore]:
    s = QdrantEdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


def indexed(store: QdrantEdgeStore, subjects: bool = False) -> dict[PointId, str]:
    vectors, topics = bank()
    store.create(CollectionSpec(name="c", dim=DIM, model_id="test"))
    points = [
        Point(i + 1, v, {"kind": "question", **({"subject": f"t{t}"} if subjects else {})})
        for i, (v, t) in enumerate(zip(vectors, topics, strict=True))
    ]
    store.upsert("c", points)
    return {i + 1: f"question {i + 1} of topic {t}" for i, t in enumerate(topics)}


def test_a_bank_without_subjects_stores_its_clusters_and_a_labelled_one_its_model(store: QdrantEdgeStore) -> None:
    texts = indexed(store)
    assert refresh(store, "c", texts) == 0  # no subjects were learned
    model, latent = load_all(store, "c")
    assert model is None and load(store, "c") is None
    assert latent is not None and [len(r) for r in latent.runs] == [2] * 4 + [3] * 4 + [4] * 4  # 80 questions
    again = LatentTopics.from_points(latent.points())
    assert again is not None and all(np.array_equal(a, b) for a, b in zip(again.runs, latent.runs, strict=True))
    assert store.count("c") == 2 * PER_TOPIC
    assert store.count(topics_collection("c")) == sum(len(r) for r in latent.runs)
    store.drop("c")
    indexed(store, subjects=True)
    assert refresh(store, "c", texts) == 2
    model, latent = load_all(store, "c")
    assert model is not None and latent is None  # the latent points were replaced
    assert store.count(topics_collection("c")) == 2


def ranked(store: QdrantEdgeStore, texts: dict[PointId, str], vector: np.ndarray, weight: float) -> list[Hit]:
    ranker = Ranker(
        store,
        "c",
        lambda ids: {i: texts[i] for i in ids if i in texts},
        SearchSettings(latent_topics=weight),
        latent=lambda: load_all(store, "c")[1],
    )
    return ranker.similar(10, Filter(equals={"kind": "question"}), text="a workbook problem", vector=vector)


def test_a_typed_problem_gets_its_topic_s_questions_with_their_agreement(store: QdrantEdgeStore) -> None:
    texts = indexed(store)
    refresh(store, "c", texts)
    topic = {i: int(t.rsplit(" ", 1)[1]) for i, t in texts.items()}
    without = ranked(store, texts, ON_TOPIC_0, 0.0)
    hits = ranked(store, texts, ON_TOPIC_0, 0.5)
    assert sum(topic[h.id] == 0 for h in without) <= 7  # the surface style pulls the other topic in
    assert [topic[h.id] for h in hits] == [0] * 10
    assert all(AGREEMENT not in h.payload for h in without)
    assert min(h.payload[AGREEMENT] for h in hits) > 0.5  # sure: every result shares the problem's topic
    assert {h.id for h in hits}.isdisjoint({h.id for h in without if topic[h.id] == 1})


def test_practice_on_a_real_bank_without_subjects_reports_each_result_s_agreement(
    bank: Database, tmp_path: Path, minilm: Embedder
) -> None:
    """120 real MATH problems (three subjects, 40 each) with their subjects taken away, indexed by MiniLM: a typed
    probability problem gets probability questions, each with its agreement with the problem's latent topic."""
    with bank.session() as s:
        truth = {q.id: q.subject for q in s.scalars(select(Question))}
        s.execute(update(Question).values(subject=None))
    store = QdrantEdgeStore(tmp_path / "q")
    try:
        report = Indexer(bank, store, minilm).run()
        assert report.topics == 0 and load_all(store, report.collection)[1] is not None
        typed = "A bag has 4 red and 6 blue marbles. Two are drawn at random. What is the probability both are red?"
        practice = Retriever(bank, store, minilm).practice(typed, k=10)
        assert practice.topic is None and len(practice.found) == 10  # no subject to name
        assert sum(truth[f.id] == "Counting & Probability" for f in practice.found) >= 8
        confidence = [f.subject_confidence for f in practice.found]
        assert all(c is not None and 0 <= c <= 1 for c in confidence)
        off = Retriever(bank, store, minilm, search=SearchSettings(latent_topics=0)).practice(typed, k=10)
        assert all(f.subject_confidence is None for f in off.found)  # off: not reported
    finally:
        store.close()
