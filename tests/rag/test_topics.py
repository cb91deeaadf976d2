"""The subject of a typed problem from the bank's own labels: the model, its points in a real store, the ranking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jindan.rag.ranker import Ranker
from jindan.rag.topics import (
    SOLUTION_MARK,
    TopicModel,
    infer,
    load,
    neighbour_votes,
    refresh,
    split_solution,
    topics_collection,
)
from jindan.settings import SearchSettings
from jindan.vectors.base import CollectionSpec, Filter, Point, PointId
from jindan.vectors.qdrant_edge import QdrantEdgeStore

DIM = 16
SUBJECTS = ("확률", "이차방정식", "삼각비")
WORDS = {
    "확률": "주사위 두 개를 던질 때 눈의 합이 {n}일 확률을 구하시오.",
    "이차방정식": "이차방정식 x^2-{n}x+6=0의 두 근의 합을 구하시오.",
    "삼각비": "직각삼각형에서 sin A = {n}/5일 때 cos A의 값을 구하시오.",
}


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def bank(per: int = 6, seed: int = 0) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Three subjects, each a direction in 16-d with noise, each with its own wording."""
    rng = np.random.default_rng(seed)
    vectors, subjects, texts = [], [], []
    for i, s in enumerate(SUBJECTS):
        for n in range(per):
            vectors.append(unit(np.eye(DIM)[i] * 2 + rng.normal(0, 0.35, DIM)))
            subjects.append(s)
            texts.append(WORDS[s].format(n=n + 2))
    return vectors, subjects, texts


def test_the_model_finds_the_subject_of_a_new_problem_and_says_how_sure_it_is() -> None:
    vectors, subjects, texts = bank()
    model = TopicModel.fit(vectors, subjects, texts)
    assert model is not None and sorted(model.subjects) == sorted(SUBJECTS)
    clear = infer(model, unit(np.eye(DIM)[1] * 2 + 0.1), "x^2-7x+12=0의 두 근의 곱", {})
    assert clear is not None and (clear.subject, clear.source, clear.uncertain) == ("이차방정식", "inferred", False)
    assert clear.confidence > 0.6 and abs(sum(p for _, p in clear.scores) - 1) < 1e-3
    assert clear.scores[0][0] == "이차방정식"
    between = infer(model, unit(np.eye(DIM)[0] + np.eye(DIM)[2]), "구하시오", {})
    assert between is not None and between.uncertain and between.confidence < 0.5


def test_a_named_unit_and_a_strong_anchor_decide() -> None:
    vectors, subjects, texts = bank()
    model = TopicModel.fit(vectors, subjects, texts)
    assert model is not None
    mixed = unit(np.eye(DIM)[0] + np.eye(DIM)[2])
    named = infer(model, mixed, "다음 확률을 구하시오", {})
    assert named is not None and named.subject == "확률"
    own = infer(model, mixed, "구하시오", {}, anchor=("삼각비", 0.9))
    assert own is not None and (own.subject, own.confidence, own.source, own.uncertain) == (
        "삼각비",
        1.0,
        "anchor",
        False,
    )
    weak = infer(model, unit(np.eye(DIM)[1] * 3 + 0.1), "근의 합", {}, anchor=("삼각비", 0.35))
    assert weak is not None and weak.subject == "이차방정식"  # a weak anchor is one piece of evidence, not the verdict


def test_without_a_model_the_neighbours_vote() -> None:
    votes = neighbour_votes(["확률", "확률", "삼각비", None], [0.9, 0.88, 0.7, 0.95])
    assert set(votes) == {"확률", "삼각비"} and votes["확률"] > 0.99
    guess = infer(None, np.zeros(1), "아무 문제", votes)
    assert guess is not None and (guess.subject, guess.source) == ("확률", "neighbours")
    assert infer(None, np.zeros(1), "x", {}) is None
    assert TopicModel.fit([np.ones(DIM)] * 3, ["확률"] * 3, ["a", "b", "c"]) is None  # one subject: nothing to learn


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[QdrantEdgeStore]:
    s = QdrantEdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


def indexed(store: QdrantEdgeStore) -> dict[PointId, str]:
    vectors, subjects, texts = bank()
    store.create(CollectionSpec(name="c", dim=DIM, model_id="test"))
    store.upsert(
        "c",
        [
            Point(i + 1, v, {"kind": "question", "subject": s})
            for i, (v, s) in enumerate(zip(vectors, subjects, strict=True))
        ],
    )
    return {i + 1: f"{s}: {t}" for i, (s, t) in enumerate(zip(subjects, texts, strict=True))}


def test_the_model_lives_in_the_collection_and_a_new_training_replaces_it(store: QdrantEdgeStore) -> None:
    texts = indexed(store)
    assert refresh(store, "c", texts) == 3
    model = load(store, "c")
    assert model is not None and sorted(model.subjects) == sorted(SUBJECTS)
    assert store.count("c") == 18 and store.count(topics_collection("c")) == 3  # the questions' collection: questions
    fresh = TopicModel.fit(*bank())
    assert fresh is not None
    probe = unit(np.eye(DIM)[2] * 2 + 0.2)
    assert infer(model, probe, "cos A", {}) == infer(fresh, probe, "cos A", {})  # stored exactly as trained
    store.delete("c", [i for i, t in texts.items() if t.startswith("삼각비")])
    assert refresh(store, "c", texts) == 2
    again = load(store, "c")
    assert again is not None and "삼각비" not in again.subjects
    assert store.count(topics_collection("c")) == 2


def test_similar_by_text_ranks_one_subject_first_and_a_chosen_one_on_request(store: QdrantEdgeStore) -> None:
    texts = indexed(store)
    refresh(store, "c", texts)
    ranker = Ranker(
        store, "c", lambda ids: {i: texts[i] for i in ids if i in texts}, SearchSettings(), topics=load(store, "c")
    )
    flt = Filter(equals={"kind": "question"})
    near_two = unit(np.eye(DIM)[2] * 2 + np.eye(DIM)[0] * 1.2)  # closer to 삼각비, with 확률 in the neighbourhood
    hits, guess = ranker.similar_topic(6, flt, text="sin A 값이 주어질 때 cos A", vector=near_two)
    assert guess is not None and guess.subject == "삼각비" and guess.source == "inferred"
    # the text shares a third of its character pairs with one 삼각비 question: a weak anchor, left out
    assert [h.payload["subject"] for h in hits][:5] == ["삼각비"] * 5 and len(hits) == 6
    chosen = Filter(equals={"kind": "question", "subject": "확률"})
    hits, picked = ranker.similar_topic(3, chosen, text="sin A 값이 주어질 때 cos A", vector=near_two)
    assert {h.payload["subject"] for h in hits} == {"확률"}
    assert picked is not None and (picked.subject, picked.source) == ("확률", "chosen")
    assert picked.confidence == picked.of("확률") < guess.confidence  # how likely the text says it is


def test_similar_by_id_keeps_the_question_out_and_its_subject_first(store: QdrantEdgeStore) -> None:
    texts = indexed(store)
    refresh(store, "c", texts)
    ranker = Ranker(store, "c", lambda ids: {i: texts[i] for i in ids}, SearchSettings(), topics=load(store, "c"))
    hits, guess = ranker.similar_topic(5, Filter(equals={"kind": "question"}), anchor=1)
    assert guess is not None and (guess.subject, guess.source, guess.confidence) == ("확률", "anchor", 1.0)
    assert 1 not in [h.id for h in hits] and {h.payload["subject"] for h in hits} == {"확률"}


def english_bank(per: int) -> tuple[list[np.ndarray], list[str], list[str]]:
    """Two English subjects, each problem with the start of its solution after the mark."""
    rng = np.random.default_rng(1)
    vectors, subjects, texts = [], [], []
    for n in range(per):
        for i, (s, problem, solution) in enumerate(
            (
                ("Algebra", f"Solve $x^2-{n}x+6=0$ for $x$.", "Factor the quadratic: worksolution"),
                ("Geometry", f"A triangle has sides {n}, 4 and 5. Find its area.", "Use Heron: worksolution"),
            )
        ):
            vectors.append(unit(np.eye(DIM)[i] * 2 + rng.normal(0, 0.35, DIM)))
            subjects.append(s)
            texts.append(f"{problem}{SOLUTION_MARK}{solution}")
    return vectors, subjects, texts


def test_the_term_regression_reads_the_problem_and_naive_bayes_its_solution_too() -> None:
    model = TopicModel.fit(*english_bank(12))
    assert model is not None and model.lexical is not None
    assert not any("worksolution" in t for w in model.lexical.weights for t in w)  # a typed problem has none
    assert all(c.get("w:worksolution", 0) > 0 for c in model.counts)
    assert any(t.startswith("p:x ^") for t in model.lexical.idf)  # notation: neighbouring tokens as written
    assert split_solution(f"a{SOLUTION_MARK}b") == ("a", "a\nb") and split_solution("a") == ("a", "a")


def test_a_large_bank_trusts_its_term_regression_and_a_korean_problem_on_an_english_bank_does_not() -> None:
    small, large = TopicModel.fit(*bank(per=6)), TopicModel.fit(*english_bank(40))
    assert small is not None and large is not None
    assert small.trust == 0.0 and small.hangul  # up to OWN_WORDS questions per subject: the parts weigh the same
    assert large.trust == pytest.approx(0.75) and not large.hangul
    vector = unit(np.eye(DIM)[0] + np.eye(DIM)[1])
    untrusted = TopicModel.fit(*english_bank(40))
    assert untrusted is not None
    untrusted.__dict__["trust"] = 0.0
    korean, english = "삼각형의 넓이를 구하시오: sides 4 and 5", "Find the area of a triangle with sides 4 and 5."
    assert np.allclose(large.log_probs(vector, korean), untrusted.log_probs(vector, korean))
    assert not np.allclose(large.log_probs(vector, english), untrusted.log_probs(vector, english))


def test_the_term_regression_is_an_svm_whose_margins_separate_the_subjects() -> None:
    import scipy.sparse as sp

    from jindan.rag.term_weights import margins

    x = sp.csr_matrix(
        np.array([[1.0, 0, 0.2], [0.9, 0.1, 0], [0, 1.0, 0.1], [0.1, 0.8, 0], [0, 0, 1.0], [0.2, 0, 0.9]])
    )
    y = np.array([0, 0, 1, 1, 2, 2])
    w, b = margins(x, y, 3, c=10.0)
    scores = np.asarray(x @ w) + b
    assert (scores.argmax(1) == y).all()
    own = scores[np.arange(6), y]
    assert own.min() > 0.8 and (np.delete(scores, 0, 1)[:2] < -0.8).all()  # near the margin of 1, both sides
    model = TopicModel.fit(*english_bank(40))
    assert model is not None and model.lexical is not None and model.lexical.svm


def test_a_large_bank_softens_the_svm_so_its_confidence_stays_calibrated_and_an_older_index_is_read_as_it_was() -> None:
    from jindan.rag.topics import SOFTEN

    model = TopicModel.fit(*english_bank(40))
    assert model is not None and model.lexical is not None
    vector, text = unit(np.eye(DIM)[0] * 2 + 0.1), "Solve $x^2-5x+6=0$ for $x$."
    sharp = model.log_probs(vector, text)
    assert model.lexical.svm and model.trust > 0
    older = TopicModel.from_points(model.points())
    assert older is not None and older.lexical is not None and older.lexical.svm  # the flag is stored
    assert np.allclose(older.log_probs(vector, text), sharp)
    for p in (points := model.points()):  # an index written before the SVM: no flag, nothing softened
        del p.payload["lexical"]["svm"]
    before = TopicModel.from_points(points)
    assert before is not None and before.lexical is not None and not before.lexical.svm
    assert np.allclose(before.log_probs(vector, text), sharp * (1 + SOFTEN * model.trust))
    korean = "삼각형의 넓이를 구하시오: sides 4 and 5"  # a Korean problem on an English bank: read as in a small bank
    assert np.allclose(before.log_probs(vector, korean), model.log_probs(vector, korean))
