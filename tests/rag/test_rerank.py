"""Reranking for *similar* on hand-made candidates: the neighbours' subjects vote (nothing is dropped), and
in a bank without subjects the probe moves towards its neighbourhood."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jindan.rag.rerank import topic_rerank
from jindan.vectors.base import Hit


def hit(i: int, score: float, subject: str) -> Hit:
    return Hit(i, score, {"subject": subject})


def test_the_consensus_subject_moves_up() -> None:
    # the single nearest candidate is Geometry, the four after it agree on Algebra
    cands = [hit(1, 0.90, "Geometry"), *(hit(i, 0.89, "Algebra") for i in range(2, 6)), hit(6, 0.5, "Geometry")]
    ranked = topic_rerank(cands, k=6)
    assert [h.id for h in ranked] == [2, 3, 4, 5, 1, 6]
    assert {h.id for h in ranked} == {h.id for h in cands}  # reordered, never dropped
    algebra_vote = ranked[0].score - 0.89
    assert 0.5 < algebra_vote < 1.0  # beta x P(Algebra | query)


def test_k_cuts_after_reranking_and_an_empty_list_stays_empty() -> None:
    cands = [hit(1, 0.9, "A"), hit(2, 0.88, "B"), hit(3, 0.875, "B"), hit(4, 0.87, "B")]
    assert [h.id for h in topic_rerank(cands, k=2)] == [2, 3]
    assert topic_rerank([], k=5) == []


def test_unanimous_neighbours_keep_the_similarity_order() -> None:
    cands = [hit(i, 1.0 - i / 10, "A") for i in range(5)]
    assert [h.id for h in topic_rerank(cands, k=5)] == [0, 1, 2, 3, 4]


def test_beta_zero_is_plain_similarity() -> None:
    cands = [hit(1, 0.90, "Geometry"), *(hit(i, 0.89, "Algebra") for i in range(2, 6))]
    assert [h.id for h in topic_rerank(cands, k=5, beta=0.0)] == [1, 2, 3, 4, 5]


def test_a_bank_without_subjects_moves_the_probe_towards_its_neighbourhood(tmp_path: Path) -> None:
    """Average query expansion: the probe moves towards its 3 nearest candidates, so a question on their topic
    (a4) rises above one that shares only surface features with the probe (b)."""
    from jindan.rag.rerank import expansion_rerank
    from jindan.vectors.base import CollectionSpec, Point
    from jindan.vectors.qdrant_edge import QdrantEdgeStore

    def unit(x: float, y: float, tag: int = 0) -> np.ndarray:
        v = np.zeros(8, np.float32)
        v[0], v[1], v[2 + tag] = x, y, 0.01 * bool(tag)
        return v / np.linalg.norm(v)

    probe = unit(1, 0.9)
    bank = {1: unit(1, 0.5, 1), 2: unit(1, 0.5, 2), 3: unit(1, 0.5, 3), 4: unit(1, 0.2), 5: unit(0.5, 1)}
    store = QdrantEdgeStore(tmp_path / "q")
    try:
        store.create(CollectionSpec(name="c", dim=8, payload_indexes={}))
        store.upsert("c", [Point(i, v, {}) for i, v in bank.items()])
        dense = sorted((Hit(i, float(v @ probe), {}) for i, v in bank.items()), key=lambda h: -h.score)
        assert [h.id for h in dense][3:] == [5, 4]  # by cosine alone, the surface match comes first
        moved = expansion_rerank(dense, 5, store, "c", probe)
        assert [h.id for h in moved][3:] == [4, 5] and {h.id for h in moved} == set(bank)
        assert [h.id for h in expansion_rerank(dense, 5, store, "c", probe, weight=0)] == [h.id for h in dense]
    finally:
        store.close()


def test_a_typed_problem_s_terms_pick_the_neighbours_of_its_method(tmp_path: Path) -> None:
    """Without subjects, the typed problem's terms count too: two candidates equally close by their vectors, the
    one that shares the problem's method words (``probability``, ``marbles``) comes first, and the candidates that
    share words with it follow (the terms move with the probe)."""
    from collections import Counter

    from jindan.rag.rerank import expansion_rerank
    from jindan.rag.term_weights import TermPool
    from jindan.vectors.base import CollectionSpec, Point
    from jindan.vectors.qdrant_edge import QdrantEdgeStore

    probe = np.eye(4, dtype=np.float32)[0]
    same = (np.eye(4)[0] * 0.8 + np.eye(4)[1] * 0.6).astype(np.float32)
    words = {
        1: "triangle area from its base and height",
        2: "probability of drawing two red marbles",
        3: "probability that both marbles are blue",
        4: "circle area from its radius",
    }
    text = "what is the probability of two red marbles"
    pool = TermPool(Counter(text.split()), {i: Counter(t.split()) for i, t in words.items()})
    two, three, one = pool.scores([2, 3, 1])
    assert two > three > one == 0  # the shared words, weighted by the pool's own idf
    store = QdrantEdgeStore(tmp_path / "q")
    try:
        store.create(CollectionSpec(name="c", dim=4, payload_indexes={}))
        store.upsert("c", [Point(i, same, {}) for i in words])
        dense = [Hit(i, float(same @ probe), {}) for i in words]  # one cosine for all: the order is the store's
        assert [h.id for h in expansion_rerank(dense, 4, store, "c", probe)] == [1, 2, 3, 4]
        ranked = expansion_rerank(dense, 4, store, "c", probe, words=pool, lexical=0.3)
        assert [h.id for h in ranked][:2] == [2, 3] and {h.id for h in ranked} == set(words)
    finally:
        store.close()
