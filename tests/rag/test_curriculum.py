"""The curriculum's words for each unit: the packaged glossary, matching bank subjects to units, the evidence it
adds to the topic model, and a copied sibling question that names another unit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jindan.rag.curriculum import (
    MAX_HITS,
    Curriculum,
    Unit,
    all_units,
    glossary,
    telling,
    unit_agreement,
    unit_profile,
    units_for,
)
from jindan.rag.ranker import Ranker
from jindan.rag.topics import SOLUTION_MARK, TopicModel, infer, load, refresh
from jindan.settings import SearchSettings
from jindan.text.lexical import canonical
from jindan.vectors.base import CollectionSpec, Filter, Point
from jindan.vectors.qdrant_edge import QdrantEdgeStore

UNITS = (
    Unit("통계", ("자료의 정리와 해석",), ("평균", "중앙값", "최빈값", "도수")),
    Unit("부등식", ("일차부등식",), ("부등호", "이상", "해의 범위")),
    Unit("미분계수와 도함수", (), ("미분계수", "도함수", "f'(")),
    Unit("도함수의 활용", (), ("극댓값", "증가", "감소", "f'(")),
    Unit("미분", ("미분법",), ("미분계수", "극댓값", "접선")),
    Unit("이차함수", (), ("꼭짓점", "포물선", "최댓값", "평균")),
    Unit("함수", (), ("함숫값", "정의역")),
)


def test_the_packaged_glossary_covers_the_curriculum_and_is_well_formed() -> None:
    units = glossary("ko")
    names = [canonical(u.name) for u in units]
    assert len(units) >= 40 and len(names) == len(set(names))
    for expected in (
        "일차방정식",
        "연립방정식",
        "이차함수",
        "피타고라스정리",
        "삼각비",
        "확률",
        "통계",
        "수열",
        "미분",
        "적분",
    ):
        assert expected in names
    assert all(u.terms and all(t.strip() for t in u.terms) for u in units)
    english = {canonical(u.name) for u in glossary("en")}
    assert {"algebra", "geometry", "numbertheory", "counting&probability", "precalculus"} <= english
    assert glossary("fr") == ()  # no glossary for a language that has none: no evidence, nothing breaks


def test_a_bank_subject_finds_its_units_by_name_alias_or_containment() -> None:
    assert [u.name for u in units_for("통계", UNITS)] == ["통계"]
    assert [u.name for u in units_for("자료의 정리와 해석", UNITS)] == ["통계"]  # an alias, spaces ignored
    assert [u.name for u in units_for("미분", UNITS)] == ["미분"]  # the unit of that name, not every "미분..."
    assert [u.name for u in units_for("이차부등식", UNITS)] == ["부등식"]  # a narrower subject finds its unit
    assert [u.name for u in units_for("도함수", UNITS)] == ["미분계수와 도함수", "도함수의 활용"]
    assert [u.name for u in units_for("중3 이차함수", UNITS)] == ["이차함수"]
    assert [u.name for u in units_for("2. 이차함수와 부등식", UNITS)] == ["이차함수", "부등식"]  # both, no more
    assert units_for("Algebra", UNITS) == [] and units_for("", UNITS) == []
    assert [u.name for u in units_for("통계와 부등식", UNITS)] == ["통계", "부등식"]  # each part of a joined name
    joined = {u.name for u in units_for("경우의 수와 확률", all_units())}
    assert {"경우의 수", "확률"} <= joined


def test_evidence_counts_a_units_terms_and_splits_the_shared_ones() -> None:
    found = Curriculum.for_subjects(["통계", "이차함수", "English"], UNITS)
    assert found is not None
    stats, quadratic, other = found.evidence("자료 7, 9, 6의 최빈값과 평균")
    assert stats == pytest.approx(1.5) and quadratic == pytest.approx(0.5) and other == 0.0  # 평균 is in both
    assert found.evidence("평균 중앙값 최빈값 도수 도수 도수")[0] == MAX_HITS  # capped
    assert Curriculum.for_subjects(["Algebra", "Geometry"], UNITS) is None
    assert all(map(telling, ("최빈값", "sin", "log", "∫", "f'(", "√", "npr")))
    assert not any(map(telling, ("x^2", "y=ax+b", "<=", "a_n", "2:1")))  # plain algebra is in every unit
    plain = Curriculum.for_subjects(["이차함수", "통계"], (Unit("이차함수", (), ("꼭짓점", "x^2")), UNITS[0]))
    assert plain is not None and plain.evidence("x^2+3x의 값").tolist() == [
        0.0,
        0.0,
    ]  # no subject is a unit: no evidence


def _small_bank() -> tuple[list[np.ndarray], list[str], list[str]]:
    """Two subjects whose few questions share none of the words a typed problem below uses."""
    rng = np.random.default_rng(0)
    vectors, subjects, texts = [], [], []
    for i, (subject, text) in enumerate(
        (("통계", "다음 자료의 분산을 구하시오: {n}, 4, 6"), ("미분", "함수 f(x)=x^3-{n}x의 그래프 위의 점에서 접선"))
    ):
        for n in range(4):
            v = np.eye(8)[i] + rng.normal(0, 0.6, 8)
            vectors.append((v / np.linalg.norm(v)).astype(np.float32))
            subjects.append(subject)
            texts.append(text.format(n=n + 2))
    return vectors, subjects, texts


def test_the_curriculum_tells_a_small_bank_the_unit_its_own_questions_cannot() -> None:
    model = TopicModel.fit(*_small_bank())
    assert model is not None and model.curriculum is not None
    between = np.full(8, 0.3, np.float32)  # a vector that points at neither subject
    text = "7 9 6 10 8의 최빈값과 중앙값"  # statistics in words the bank's questions never used
    without = infer(model, between, text, {})
    with_terms = infer(model, between, text, {}, curriculum=1.0)
    assert without is not None and with_terms is not None
    assert with_terms.subject == "통계" and with_terms.of("통계") > without.of("통계") + 0.2
    assert with_terms.clues == ("중앙값", "최빈값") and without.clues == ()  # why: the words it found
    assert infer(model, between, text, {}, curriculum=0.0) == without  # 0 turns it off
    assert model.prior_share.tolist() == [1.0, 1.0]  # 4 questions each: the curriculum counts in full


def test_the_curriculum_counts_less_where_a_subject_has_many_questions_of_its_own() -> None:
    vectors, subjects, texts = _small_bank()
    small = TopicModel.fit(vectors, subjects, texts)
    large = TopicModel.fit(vectors * 10, subjects * 10, texts * 10)  # 40 questions per subject
    assert small is not None and large is not None
    assert large.prior_share.tolist() == pytest.approx([0.25, 0.25])
    between, text = np.full(8, 0.3, np.float32), "7 9 6 10 8의 최빈값과 중앙값"
    lift = [
        infer(m, between, text, {}, curriculum=1.0).of("통계") - infer(m, between, text, {}).of("통계")  # type: ignore[union-attr]
        for m in (small, large)
    ]
    assert lift[0] > lift[1] > 0


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[QdrantEdgeStore]:
    s = QdrantEdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


def test_a_copied_question_of_another_unit_that_names_the_asked_unit_is_a_sibling(store: QdrantEdgeStore) -> None:
    bank = {
        1: (
            "이차함수",
            "이차함수 y=2x^2의 그래프를 y축의 방향으로 -3만큼 평행이동한 그래프가 점 (1, a)를 지날 때, a의 값",
        ),
        2: ("이차함수", "이차함수 y=x^2-4x+3의 꼭짓점의 좌표를 구하시오"),
        3: ("일차함수", "일차함수 y=3x-6의 그래프의 기울기와 y절편을 구하시오"),
        4: ("일차함수", "다음 중 이차함수가 아닌 것은? y=-x+2, y=x^2, y=2x^2+1"),
    }
    store.create(CollectionSpec(name="c", dim=4, model_id="test"))
    store.upsert(
        "c",
        [
            Point(i, np.eye(4)[i - 1].astype(np.float32), {"kind": "question", "subject": s})
            for i, (s, _) in bank.items()
        ],
    )
    texts = {i: f"{s}: {t}" for i, (s, t) in bank.items()}
    refresh(store, "c", texts)
    ranker = Ranker(
        store, "c", lambda ids: {i: bank[i][1] for i in ids if i in bank}, SearchSettings(), topics=load(store, "c")
    )
    model = load(store, "c")
    assert model is not None and model.named_words("이차함수를 고르시오, 일차함수와 비교") == {"이차함수", "일차함수"}
    assert model.named_words("지수일차함수") == set()  # inside another word: not named
    probe = np.array([0.8, 0.2, 0.5, 0.2], np.float32)
    typed = "일차함수 y=2x의 그래프를 y축의 방향으로 -3만큼 평행이동한 그래프가 점 (a, 5)를 지날 때, a의 값"
    share = ranker.anchor_share(typed, probe, Filter(equals={"kind": "question"}))
    assert share is not None and share[0] == 1 and 0.6 <= share[1] < 0.9  # most of question 1's text
    _, guess = ranker.similar_topic(3, Filter(equals={"kind": "question"}), text=typed, vector=probe)
    assert guess is not None and guess.source == "inferred" and guess.subject == "일차함수"
    pasted = bank[4][1]  # a question itself, pasted: its own subject decides, whatever it names
    _, own = ranker.similar_topic(3, Filter(equals={"kind": "question"}), text=pasted, vector=probe)
    assert own is not None and (own.subject, own.source) == ("일차함수", "anchor")


def test_a_texts_curriculum_units_tell_a_remainder_from_a_triangle() -> None:
    remainder = unit_profile("What is the remainder when $2^{100}$ is divided by 7?")
    names = [u.name for u in all_units()]
    assert remainder[names.index("Modular Arithmetic")] > 0 and remainder[names.index("Triangles")] == 0
    assert np.isclose(np.linalg.norm(remainder), 1.0)
    assert not unit_profile("x + 1 = 2").any()  # plain algebra names no unit
    others = {
        "mod": "Find the remainder of 3^5 modulo 11.",
        "tri": "The triangle has sides 3, 4 and 5. What is its area?",
        "none": "x + 1 = 2",
    }
    agree = unit_agreement("What is the remainder when 2^100 is divided by 7?", others)
    assert agree["mod"] > 0.3 and agree["tri"] == 0 and agree["none"] == 0
    dice = "주사위 두 개를 던질 때 눈의 합이 7일 확률"
    ko = unit_agreement(dice, {"p": "동전을 던져 앞면이 나올 확률", "t": "삼각형의 넓이"})
    assert ko["p"] > ko["t"]
    assert unit_agreement("x + 1 = 2", others) == dict.fromkeys(others, 0.0)


def test_a_bank_without_subjects_ranks_by_the_units_of_each_question_s_worked_solution(store: QdrantEdgeStore) -> None:
    """Four questions with no subjects, the first the nearest by its vector: for a typed remainder problem the one
    whose worked solution is about remainders comes first; with the weight at 0 the nearest stays first. Similar to
    a question of the bank, its own worked solution is read the same way."""
    problems = {1: "Compute 2^10.", 2: "Compute 3^7.", 3: "Compute 5^4.", 4: "Compute 7^3."}
    solutions = {
        1: "The triangle's area is half the base times the height.",
        2: "Work modulo 11: the remainder of 3^5 is 1, so the remainder is 3^2 = 9.",
        3: "The triangle's perimeter is the sum of its sides.",
        4: "The circle's radius is 7, so its area is 49 pi.",
    }
    vector = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    farther = np.array([0.958, 0.287, 0.0, 0.0], np.float32)  # cosine 0.958 to the typed problem's
    vectors = {1: vector, 2: farther, 3: np.array([0.93, 0.0, 0.3676, 0.0], np.float32), 4: farther}
    store.create(CollectionSpec(name="c", dim=4, model_id="test"))
    store.upsert("c", [Point(i, vectors[i], {"kind": "question"}) for i in problems])

    def ranker(weight: float) -> Ranker:
        return Ranker(
            store,
            "c",
            lambda ids: {i: problems[i] for i in ids if i in problems},
            SearchSettings(expansion_units=weight, expansion_lexical=0, latent_topics=0),
            worked=lambda ids: {i: f"{problems[i]}{SOLUTION_MARK}{solutions[i]}" for i in ids if i in problems},
        )

    typed = "Find the remainder when 2^100 is divided by 7."
    flt = Filter(equals={"kind": "question"})
    assert ranker(0).similar(4, flt, text=typed, vector=vector)[0].id == 1
    ranked = [h.id for h in ranker(0.5).similar(4, flt, text=typed, vector=vector)]
    assert ranked[0] == 2 and sorted(ranked) == [1, 2, 3, 4]
    # similar to a question of the bank: its own worked solution (a triangle's area) says what it is about
    assert ranker(0).similar(3, flt, anchor=1)[0].id != 3  # the farthest by its vector
    assert ranker(0.5).similar(3, flt, anchor=1)[0].id == 3
