"""The bank's hint ladder: never the key, for every question of the Korean bank and a sample of MATH; levels
that climb with the student's progress; questions without a solution say so."""

from __future__ import annotations

import json
import random

from jindan.answers import checks, ladder
from jindan.answers.checks import Case
from tests.answers.test_checks import ROWS, case
from tests.conftest import shared_file


def test_no_level_of_any_korean_ladder_gives_the_answer_away() -> None:
    for qid in ROWS:
        c = case(qid)
        levels = ladder.ladder(c)
        assert levels, qid
        for level in range(1, len(levels) + 2):  # and one more: asking again past the top stays safe
            h = ladder.hint(c, level)
            assert h.kind == "ladder" and h.passed, (qid, level, h)
            leak = checks.leak(c, h.text)
            assert leak is not None and leak.passed, (qid, level, h.text)


def test_the_bank_explanation_passes_every_check_for_every_korean_question() -> None:
    for qid in ROWS:
        answer = ladder.explanation(case(qid, task="explain"))
        assert answer.kind == "solution" and answer.passed, (qid, answer.verdicts)


def test_a_bank_solution_that_disagrees_with_its_key_is_not_shown() -> None:
    """One of the two is wrong: the student gets the notice, never an explanation that failed its checks."""
    r = ROWS["ko-024"]
    c = Case("explain", "ko", question=r["body"], key="x=6, y=1", explanation=r["explanation"])
    answer = ladder.explanation(c)
    assert answer.kind == "none" and not answer.passed and answer.text == ladder.none(c).text
    assert ladder.explanation(case("ko-024", task="explain")).kind == "solution"


def test_the_nearest_questions_notice_is_judged_like_any_answer() -> None:
    c = Case("ask", "ko", question="연립방정식은 어떻게 풀어요?")
    assert ladder.nearest(c, [(24, "연립방정식 x+y=7")]).kind == "nearest"
    english = ladder.nearest(Case("ask", "en", question="how?"), [(24, "연립방정식을 푸는 방법을 설명하는 문제입니다")])
    assert english.kind == "none"  # a Korean title in an English notice: the language check fails it


def test_math_ladders_never_leak_and_always_offer_a_passing_hint() -> None:
    rows = [json.loads(line) for line in shared_file("math/problems.jsonl").open()]
    for r in random.Random(7).sample(rows, 300):
        c = Case(
            "hint", "en", question=r["problem"], key=r["answer"], explanation=r["solution"], concepts=(r["subject"],)
        )
        for level in (1, 2, 3):
            h = ladder.hint(c, level)
            assert h.passed and checks.leak(c, h.text).passed, (r["id"], level, h.text)  # type: ignore[union-attr]


def test_levels_read_like_a_tutor_and_climb() -> None:
    c = case("ko-024")
    one, two, three = (ladder.hint(c, level).text for level in (1, 2, 3))
    assert one.startswith("「가감법」을 이용하는 문제예요.") and "더하면" in one
    assert two.startswith("첫 단계:") and "2x=10" in two and "x=\\square" in two
    assert three.startswith("다음 단계:") and "y=\\square" in three and three.endswith("마지막 계산은 직접 해 보세요.")


def test_the_students_own_progress_picks_the_next_step() -> None:
    fresh = ladder.hint(case("ko-024", student="잘 모르겠어요"), 1)
    assert fresh.level == 1
    halfway = ladder.hint(case("ko-024", student="두 식을 더해서 2x=10 이 나왔어요"), 1)
    assert halfway.level == 3  # the first step's result is there: the next step


def test_a_question_without_a_solution_gets_a_concept_hint_that_says_so() -> None:
    r = ROWS["ko-024"]
    bare = Case("hint", "ko", question=r["body"], key=r["answer"], concepts=("가감법",))
    neighbour = ladder.Neighbour(25, ROWS["ko-025"]["explanation"], ("가감법",))
    h = ladder.hint(bare, 1, [neighbour])
    assert h.kind == "concept" and h.passed and h.ref == 25
    assert "아직 문제집에 없어요" in h.text and "25번" in h.text and "14" not in h.text  # the method, not its numbers
    lonely = ladder.hint(Case("hint", "ko", question="어떤 문제", key="3"), 1)
    assert lonely.kind == "none" and not lonely.passed


def test_korean_particles() -> None:
    assert ladder.particle("가감법") == "을" and ladder.particle("계산 순서") == "를"
    assert ladder.particle("log") == "을(를)"
