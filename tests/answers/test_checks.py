"""Each answer check on real bad outputs (seen from the shipped model) and on good answers, plus the whole
Korean bank and a sample of MATH as calibration: the bank's own solutions must pass as explanations."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jindan.answers import checks
from jindan.answers.checks import Case
from tests.conftest import shared_file

KO = Path(__file__).resolve().parents[2] / "src" / "jindan" / "data" / "ko" / "questions.jsonl"
ROWS = {r["id"]: r for r in (json.loads(line) for line in KO.open(encoding="utf-8"))}
NEIGHBOUR = ROWS["ko-025"]  # x+y=10, x-y=4: what the retriever puts beside ko-024


def case(qid: str, task: str = "hint", student: str | None = None, context: tuple[str, ...] = ()) -> Case:
    r = ROWS[qid]
    shown = "\n".join([r["body"], *(f"({i + 1}) {c}" for i, c in enumerate(r.get("choices") or []))])
    return Case(
        task,
        "ko",
        question=shown,
        key=r["answer"],
        explanation=r["explanation"],
        concepts=tuple(r["concepts"]),
        student=student,
        context=context,
        prompt="정답이나 전체 풀이를 알려주지 말고, 학생이 다음 단계를 스스로 찾도록 짧은 힌트 하나만 주세요.",
        choices=tuple(r.get("choices") or ()),
    )


def failed(verdicts: list[checks.Verdict]) -> set[str]:
    return {v.check for v in verdicts if not v.passed}


NEIGHBOUR_ITEM = f"{NEIGHBOUR['body']}\n{NEIGHBOUR['explanation']}\n{NEIGHBOUR['answer']}"
SIXFOLD = " ".join(["두 식을 더하면 2x=14이므로 x=7이다. 이를 x+y=10에 대입하면 y=3이다."] * 6)


def test_the_six_fold_neighbour_solution_fails_as_a_loop_and_as_a_copied_step() -> None:
    c = case("ko-024", context=(NEIGHBOUR_ITEM,))
    verdicts = checks.judge(c, SIXFOLD, "length")
    assert {"degenerate", "echo"} <= failed(verdicts)
    assert checks.streaming(c, SIXFOLD[:60]) is not None  # stopped before the first repetition is read whole


def test_one_copy_of_a_neighbours_worked_solution_is_refused_even_without_a_loop() -> None:
    c = case("ko-024", context=(NEIGHBOUR_ITEM,))
    once = "두 식을 더하면 2x=14이므로 x=7이다. 이를 x+y=10에 대입하면 y=3이다."
    assert {"echo", "leak"} & failed(checks.judge(c, once, "stop"))


def test_prompt_scaffolding_is_refused() -> None:
    c = case("ko-024")
    for text in (
        '<context>\n<item n="1" kind="question" id="25">두 식을 더하면',
        "‹item n=1› 두 식을 더해 보세요.",
        "Official solution: 두 식을 변끼리 더하면 된다.",
        "Answer: 두 식을 더해 보세요.",
    ):
        assert "echo" in failed(checks.judge(c, text, "stop")), text


def test_echoes_of_the_question_the_student_and_the_instructions_are_refused() -> None:
    student = "저는 x가 6이라고 생각했는데 어디서 틀렸는지 모르겠어요"
    c = case("ko-024", student=student)
    assert "echo" in failed(checks.judge(c, "다음 연립방정식을 푸시오. x+y=7, x-y=3", "stop"))
    assert "echo" in failed(checks.judge(c, student + ".", "stop"))
    instructions = "정답이나 전체 풀이를 알려주지 말고, 학생이 다음 단계를 스스로 찾도록 짧은 힌트를 주세요."
    assert "echo" in failed(checks.judge(c, instructions, "stop"))


def test_english_answers_to_korean_questions_fail_the_language_check() -> None:
    c = case("ko-024")
    english = "Add the two equations together to eliminate y, then solve for x."
    assert "language" in failed(checks.judge(c, english, "stop"))
    v = checks.streaming(c, "Add the two equations")
    assert v is not None and v.check == "language"
    assert checks.streaming(c, "Add") is None  # too few words to judge yet


def test_leaks_in_every_usual_form() -> None:
    mc = case("ko-001")  # ④ -5/4
    for text in (
        "정답은 ④입니다.",
        "4번을 고르면 돼요.",
        "답은 $-\\frac{5}{4}$이에요.",
        "그 수는 -5/4 이에요.",
        "-1.25가 되죠.",
    ):
        assert "leak" in failed(checks.judge(mc, text, "stop")), text
    pair = case("ko-024")  # x=5, y=2
    for text in ("x = 5 가 나와요.", "$x=5$이므로 나머지를 구해 보세요.", "\\boxed{x=5, y=2}"):
        assert "leak" in failed(checks.judge(pair, text, "stop")), text
    salt = case("ko-023")  # 100 g
    for text in ("물을 100 g 넣으면 돼요.", "$x=100$이에요."):
        assert "leak" in failed(checks.judge(salt, text, "stop")), text


def test_a_small_whole_answer_given_as_the_hints_result_or_as_a_count_leaks() -> None:
    """A key of 3 ("경우의 수") is too common a number to refuse wherever it appears, but a hint whose sentence
    ends on it or counts it out gives it away; naming it among others, or as a step to take, does not."""
    dice = case("ko-109")  # 소수의 눈이 나오는 경우의 수: 3
    gives = (
        "소수인 눈을 세어 보면 모두 3가지예요.",
        "소수인 눈을 세어 보면 모두 $3$가지예요.",
        "소수의 눈을 세어 보세요. 그 수는 $3$이에요.",
        "소수의 눈을 세어 보세요. 그 수는 3이에요. 직접 확인해 보세요.",
        "There are 3 ways.",
    )
    for text in gives:
        assert "leak" in failed(checks.judge(dice, text, "stop")), text
    for text in (
        "1부터 6까지의 눈 가운데 2, 3, 5처럼 1과 자기 자신으로만 나누어지는 수를 세어 보세요.",
        "1은 소수가 아니에요. 5, 3처럼 하나씩 나누어 확인해 보세요.",
        "눈이 3일 때와 4일 때를 비교해 보세요.",
        "3도 소수예요. 나머지도 확인해요.",
    ):
        assert "leak" not in failed(checks.judge(dice, text, "stop")), text
    pair = case("ko-024")  # x=5, y=2
    assert checks.leak(pair, "두 식을 변끼리 더하면 y가 없어져요. 그다음 양변을 2로 나누어 보세요.").passed  # type: ignore[union-attr]


def test_a_small_answer_in_the_counter_the_question_asks_in_leaks() -> None:
    """ "3배" or "3번째" is a step in most hints, but it is the answer itself when the question asks "몇 배" or
    "몇 번째" (or "며칠", "how many times"); other counters and other numbers still pass."""
    times = Case("hint", "ko", question="A의 넓이는 B의 넓이의 몇 배인가요?", key="3")
    assert "leak" in failed(checks.judge(times, "넓이를 비교하면 A가 B의 3배가 되는 것을 알 수 있어요.", "stop"))
    step = "두 넓이를 각각 구해서 나누어 보세요. 2배보다 큰지 보세요."
    assert "leak" not in failed(checks.judge(times, step, "stop"))
    nth = Case("hint", "ko", question="수열 1, 4, 9, 16, ...에서 9는 몇 번째 항인가요?", key="3")
    assert "leak" in failed(checks.judge(nth, "제곱수를 차례로 세면 9는 3번째 항에 있어요.", "stop"))
    days = Case("hint", "ko", question="혼자 하면 6일 걸리는 일을 둘이 하면 며칠 걸리나요?", key="3")
    assert "leak" in failed(checks.judge(days, "둘의 하루 일의 양을 더하면 3일이면 끝나요.", "stop"))
    english = Case("hint", "en", question="How many times does the digit 7 appear?", key="4")
    assert "leak" in failed(checks.judge(english, "Count the 7s in each place: it shows up 4 times in all.", "stop"))
    assert "leak" not in failed(checks.judge(english, "Count the units digits first, then the tens.", "stop"))
    other = Case("hint", "ko", question="A는 B의 넓이보다 얼마나 큰가요?", key="3")  # not asked in 배
    assert "leak" not in failed(checks.judge(other, "양변을 3배 해서 분모를 없애 보세요.", "stop"))


def test_a_multiple_choice_hint_that_works_out_the_right_choices_value_leaks() -> None:
    """The question's own numbers (the stem's) are not other choices' values: a hint that uses them and ends
    on the right choice's value gives the choice away."""
    right_triangle = case("ko-094")
    text = "빗변이 10이고 한 변이 8이니 피타고라스 정리를 쓰면 나머지 변은 6이에요."
    assert "leak" in failed(checks.judge(right_triangle, text, "stop"))
    assert checks.leak(right_triangle, "피타고라스 정리를 떠올려 보세요.").passed  # type: ignore[union-attr]


def test_formulas_written_without_dollars_are_not_taken_for_english() -> None:
    c = case("ko-024", task="explain")
    for text in (
        "sin^2 x + cos^2 x = 1 이므로 tan x = 1 이다.",
        "△ABC와 △DEF는 합동이다.",
        "넓이는 12 cm^2이다.",
        "따라서 \\frac{1}{2} \\times 4 = 2 이다.",
    ):
        v = checks.language(c, text)
        assert v is not None and v.passed, (text, v)
    for text in ("Add the two equations together to eliminate y, then solve for x.", "If we do it, it is ok. 답이다."):
        v = checks.language(c, text)
        assert v is not None and not v.passed, text


def test_a_table_of_values_is_not_a_loop_but_counting_is() -> None:
    table = "x=1일 때 y=3이다. x=2일 때 y=5이다. x=3일 때 y=7이다. x=4일 때 y=9이다."
    assert checks.looping(table) is None
    assert checks.looping("아래 1. 아래 2. 아래 3. 아래 4. 아래 5.") is not None
    assert checks.looping(" ".join(f"{i}단계: 2를 더한다." for i in range(1, 8))) is not None  # one number counts
    assert checks.looping(" ".join(f"Step {i}: add 2." for i in range(1, 31))) is not None


def test_good_hints_pass_every_check() -> None:
    good = {
        "ko-024": "두 식을 변끼리 더하면 y가 없어져요. 그러면 x만 남은 식을 풀 수 있어요.",
        "ko-023": "물을 넣어도 소금의 양은 변하지 않아요. 처음 소금물에 들어 있는 소금의 양부터 구해 보세요.",
        "ko-001": "분수를 약분했을 때 분모가 1이 되는지 확인해 보세요.",
    }
    for qid, text in good.items():
        verdicts = checks.judge(case(qid), text, "stop")
        assert checks.passed(verdicts), (qid, verdicts)


def test_a_hint_that_points_at_nothing_is_not_grounded() -> None:
    c = case("ko-024")
    v = checks.grounded(c, "문제를 다시 한 번 천천히 읽어 보세요.")
    assert v is not None and not v.passed
    assert checks.grounded(c, "두 식을 변끼리 더해 보세요.").passed  # type: ignore[union-attr]


def test_degenerate_answers() -> None:
    c = case("ko-024", task="explain")
    assert "degenerate" in failed(checks.judge(c, "1. 1. 2. 2. 3. 3. The answer is 1.", "stop"))
    assert "degenerate" in failed(checks.judge(c, "", "stop"))
    assert "degenerate" in failed(checks.judge(c, "두 식을 변끼리 더하면 $2x=10$이므로", "length"))
    loop = "x의 값을 구한다 " * 12
    assert checks.looping(loop) is not None
    # seen from the shipped model: a phrase back to back, cut mid-way by the token limit
    seen = "아래 코로밍은 어따로더를 찾아도로글로 보여줄 수 없이, 어따로더를 찾아도로글로 보여줄 수 없이, 어따로더를"
    assert "2 times in a row" in (checks.looping(seen) or "")
    again = "연속한 해를 출력하면 $x^2+x-156=0$이다. 연속한 해를 출력하면 $x^2+x-156=0$이다. 연속한"
    assert checks.looping(again) is not None
    assert checks.looping("1\n\n아래 1\n\n아래 2\n\n아래 3\n\n아래 4\n\n아래 5") is not None  # empty items


def test_a_worked_solution_that_reuses_its_formulas_is_not_a_loop() -> None:
    """Solutions say "the degree of" or a matrix several times; a loop runs in a row or dominates."""
    rows = [json.loads(line) for line in shared_file("math/problems.jsonl").open()][::5]  # 1,000 problems
    looped = [(r["id"], why) for r in rows if (why := checks.looping(r["solution"]))]
    assert len(looped) <= 0.005 * len(rows), looped
    assert checks.looping("List them: $2,$ $3,$ $4,$ $5,$ $6,$ and $7.$") is None
    three = "The degree of $p$ is 2. The degree of $q$ is 3, so the degree of $pq$ is 5 and the degree of $p+q$ is 3."
    assert checks.looping(three) is None
    assert all(checks.looping(r["explanation"]) is None for r in ROWS.values())


def test_correct_compares_the_final_answer_with_the_key() -> None:
    c = case("ko-024", task="explain")
    right = "두 식을 더하면 $2x=10$, $x=5$이다. 대입하면 $y=2$이다. 따라서 $x=5$, $y=2$이다."
    wrong = "두 식을 더하면 $2x=14$, $x=7$이다. 대입하면 $y=3$이다. 따라서 $x=7$, $y=3$이다."
    assert checks.correct(c, right).passed  # type: ignore[union-attr]
    assert not checks.correct(c, wrong).passed  # type: ignore[union-attr]
    mc = case("ko-001", task="explain")
    assert checks.correct(mc, "분모가 1이 아닌 기약분수이므로 답은 ④이다.").passed  # type: ignore[union-attr]
    assert not checks.correct(mc, "따라서 답은 ③이다.").passed  # type: ignore[union-attr]
    value = Case("explain", "en", question="Compute 10/8.", key="\\frac{5}{4}")
    assert checks.correct(value, "So the answer is 1.25.").passed  # type: ignore[union-attr]
    symbolic = Case("explain", "en", question="Simplify.", key="2\\sqrt{2}")
    assert checks.correct(symbolic, "The answer is $\\boxed{\\sqrt{8}}$.").passed  # type: ignore[union-attr]
    five = Case("explain", "ko", question="계산하시오.", key="5")  # the last value stated decides, not any
    assert not checks.correct(five, "$x$의 계수는 5이다. 그러므로 $x=7$이다.").passed  # type: ignore[union-attr]
    assert checks.correct(five, "$x=7$이 아니다. 그러므로 답은 5이다.").passed  # type: ignore[union-attr]
    x4 = Case("explain", "ko", question="방정식을 푸시오.", key="$x=4$")
    assert not checks.correct(x4, "따라서 $x=4$는 해가 아니고 $x=-4$이다.").passed  # type: ignore[union-attr]
    assert checks.correct(x4, "$x=-4$를 대입하면 맞지 않는다. 따라서 $x=4$이다.").passed  # type: ignore[union-attr]


def test_a_model_text_holding_the_checks_own_marker_characters_is_judged_not_raised() -> None:
    """The sentence splitter marks formulas with NUL-delimited numbers; a model that writes ``\x005\x00`` is
    judged like any text (an exception here left the model's first sentence on screen, uncounted)."""
    from jindan.answers.text import sentence_end, sentences

    text = "첫 문장이다. \x005\x00 두 번째 $x=1$이다."
    spaced = text.replace("\x00", " ")
    assert len(sentences(text)) == 2 and sentence_end(text) == sentence_end(spaced) > 0  # the same positions
    assert checks.judge(case("ko-024", task="explain"), text, "stop")  # verdicts, no exception


def test_a_power_too_large_to_compute_is_never_handed_to_math_verify() -> None:
    """``10^{10^{10}}`` is one uninterruptible big-integer power: judged without the symbolic step (a wrong answer
    still), where math-verify would hold the server's event loop for good."""
    import threading

    value = Case("explain", "ko", question="계산하시오.", key="11")
    verdict: list[bool] = []
    worker = threading.Thread(
        target=lambda: verdict.append(checks.correct(value, "따라서 $10^{10^{10}}$이다.").passed),  # type: ignore[union-attr]
        daemon=True,
    )
    worker.start()
    worker.join(60)  # a bound for a hang, not a timing: the judgement takes well under a millisecond
    assert verdict == [False]
    assert checks.correct(value, "따라서 $11^{1}$이다.").passed  # type: ignore[union-attr]  # small powers still


def test_every_korean_bank_solution_passes_as_an_explanation() -> None:
    bad = {}
    for qid in ROWS:
        verdicts = checks.judge(
            case(qid, task="explain"),
            ROWS[qid]["explanation"] + " 따라서 답은 " + ROWS[qid]["answer"] + "이다.",
            "stop",
        )
        if not checks.passed(verdicts):
            bad[qid] = [v for v in verdicts if not v.passed]
    assert not bad, bad


def test_math_solutions_agree_with_their_keys() -> None:
    rows = [json.loads(line) for line in shared_file("math/problems.jsonl").open()][::10]  # 500 problems
    c = [Case("explain", "en", question=r["problem"], key=r["answer"]) for r in rows]
    wrong = [r["id"] for r, k in zip(rows, c, strict=True) if not checks.correct(k, r["solution"]).passed]  # type: ignore[union-attr]
    assert len(wrong) <= 0.02 * len(rows), wrong[:20]


def test_the_checks_cost_under_5_ms_per_answer() -> None:
    cases = [case(qid) for qid in ROWS]
    texts = [ROWS[qid]["explanation"] for qid in ROWS]
    for c, t in zip(cases, texts, strict=True):  # warm the tokenizer and the caches of the questions
        checks.judge(c, t, "stop")
    answers = [f"{t} 다시 확인해 보세요. {i}" for i, t in enumerate(texts)]  # answers never seen before
    start = time.perf_counter()
    for c, t in zip(cases, answers, strict=True):
        checks.judge(c, t, "stop")
        checks.streaming(c, t[: len(t) // 2])
    per_answer_ms = (time.perf_counter() - start) * 1000 / len(cases)
    assert per_answer_ms < 5, f"{per_answer_ms:.2f} ms per answer"


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_answer_is_degenerate(text: str) -> None:
    assert "degenerate" in failed(checks.judge(case("ko-024"), text, "stop"))
