"""Topic-consensus reranking on hand-made candidates: the neighbours' subjects vote, nothing is dropped."""

from __future__ import annotations

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
