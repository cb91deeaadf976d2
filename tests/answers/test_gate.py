"""The gate between the model and the student: a scripted model stream for each kind of failure, and what the
student then receives (the bank's answer, announced, with the verdicts recorded and counted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from jindan.answers import checks, ladder
from jindan.answers.gate import Answering, Checked, Example, Gate, GateEvent
from jindan.llm.base import Delta, ProviderUnavailable, Usage
from jindan.llm.router import RouterEvent, Started, StreamError
from tests.answers.test_checks import NEIGHBOUR_ITEM, SIXFOLD, case


class Counted:
    def __init__(self) -> None:
        self.results: list[tuple[str, Checked, Example | None]] = []

    def checked(self, route: str, result: Checked, example: Example | None) -> None:
        self.results.append((route, result, example))


async def model(
    text: str, finish: str = "stop", pieces: int = 6, fail: Exception | None = None
) -> AsyncIterator[RouterEvent]:
    yield Started("scripted", "scripted-model")
    if fail is not None:
        raise fail
    size = max(1, len(text) // pieces)
    for i in range(0, len(text), size):
        yield Delta(text[i : i + size])
    yield Usage("scripted", "scripted-model", 10, 20, 5.0, 9.0, finish_reason=finish)


def run(gate: Gate, events: AsyncIterator[RouterEvent] | None) -> list[GateEvent]:
    async def go() -> list[GateEvent]:
        return [ev async for ev in gate.run(events)]

    return asyncio.run(go())


def shown(events: list[GateEvent]) -> str:
    """What the student reads: deltas after the last announcement (an announcement replaces what came before)."""
    text = ""
    for ev in events:
        if isinstance(ev, Answering):
            text = text[: len(text) - ev.replaces] if ev.replaces else text
            if ev.source != "model":
                text = ""
        elif isinstance(ev, Delta):
            text += ev.text
    return text


def hint_gate(observer: Counted, **kw: object) -> Gate:
    c = case("ko-024", context=(NEIGHBOUR_ITEM,), **kw)  # type: ignore[arg-type]
    return Gate("hint", c, lambda: ladder.hint(c), hold=True, observer=observer, question_id=24)


def test_a_passing_model_hint_is_shown_as_the_models() -> None:
    seen = Counted()
    good = "두 식을 변끼리 더하면 y가 없어져요. 그러면 x만 남은 식을 풀 수 있어요."
    events = run(hint_gate(seen), model(good))
    checked = events[-1]
    assert isinstance(checked, Checked) and checked.source == "model" and checked.passed and checked.model_passed
    assert shown(events) == good
    assert [e.source for e in events if isinstance(e, Answering)] == ["model"]
    assert seen.results[0][1].model_passed and seen.results[0][2] is None


def test_each_kind_of_failure_gets_the_bank_hint_with_the_verdict_counted() -> None:
    failures = {  # the check that must fail, or one of them (a six-fold copy of a neighbour's solution is three)
        ("degenerate", "leak", "echo"): model(SIXFOLD, "length"),
        ("language",): model("Add the two equations together to eliminate y, then solve for x."),
        ("echo",): model('<context>\n<item n="1" kind="question">두 식을 더하면 된다.</item>'),
        ("leak",): model("정답은 x=5, y=2 입니다."),
        ("grounded",): model("문제를 다시 한 번 천천히 읽어 보세요."),
        ("answered",): model("", fail=ProviderUnavailable("connection refused")),
    }
    for expected, stream in failures.items():
        seen = Counted()
        events = run(hint_gate(seen), stream)
        checked = events[-1]
        assert isinstance(checked, Checked)
        assert checked.source == "bank" and checked.passed and checked.model_passed is False, expected
        failed = {v.check for v in checked.model_checks if not v.passed}
        assert failed & set(expected), (expected, checked.model_checks)
        check = next(iter(failed & set(expected)))
        announced = [e for e in events if isinstance(e, Answering)]
        assert announced[-1].source == "bank" and announced[-1].kind == "ladder" and check in announced[-1].reason
        leak = checks.leak(case("ko-024"), shown(events))
        assert leak is not None and leak.passed, shown(events)
        assert seen.results and seen.results[0][1] is checked
        example = seen.results[0][2]
        if check != "answered":
            assert example is not None and example.check == check and example.question_id == 24


def test_a_held_hint_shows_nothing_before_it_is_judged() -> None:
    events = run(hint_gate(Counted()), model("정답은 x=5, y=2 입니다.", pieces=10))
    assert not any(isinstance(e, Delta) and "x=5" in e.text for e in events)


def test_an_explanation_streams_checked_sentences_and_a_late_failure_is_replaced_visibly() -> None:
    c = case("ko-024", task="explain")
    gate = Gate("explain", c, lambda: ladder.explanation(c), hold=False, observer=Counted())
    wrong = "두 식을 변끼리 더하면 $2x=14$가 된다. 그러므로 $x=7$이다. 대입하면 $y=3$이다. 따라서 $x=7$, $y=3$이다."
    events = run(gate, model(wrong, pieces=12))
    first_model_delta = next(i for i, e in enumerate(events) if isinstance(e, Delta))
    assert isinstance(events[first_model_delta - 1], Answering) and events[first_model_delta - 1].source == "model"
    replace = [e for e in events if isinstance(e, Answering) and e.source == "bank"]
    assert replace and replace[0].replaces > 0 and replace[0].reason.startswith("correct")
    assert shown(events).startswith("두 식을 변끼리 더하면 $2x=10$")
    assert isinstance(events[-1], Checked) and events[-1].passed and events[-1].source == "bank"


def test_a_held_explanation_with_a_wrong_final_answer_never_shows_the_models_text() -> None:
    """Held (the default): the final answer is judged before anything is shown, so the bank's explanation is
    the first and only text, with nothing to take back."""
    c = case("ko-024", task="explain")
    seen = Counted()
    gate = Gate("explain", c, lambda: ladder.explanation(c), hold=True, observer=seen)
    wrong = "두 식을 변끼리 더하면 $2x=14$가 된다. 그러므로 $x=7$이다. 대입하면 $y=3$이다. 따라서 $x=7$, $y=3$이다."
    events = run(gate, model(wrong, pieces=40))
    announced = [e for e in events if isinstance(e, Answering)]
    assert [(a.source, a.replaces) for a in announced] == [("bank", 0)] and announced[0].reason.startswith("correct")
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, Delta))
    assert events[first_delta - 1] is announced[0]  # no model text before the bank's
    assert "2x=14" not in "".join(e.text for e in events if isinstance(e, Delta))
    assert isinstance(events[-1], Checked) and events[-1].model_passed is False and seen.results


def test_a_held_explanation_that_passes_is_shown_whole_after_its_judgement() -> None:
    c = case("ko-024", task="explain")
    gate = Gate("explain", c, lambda: ladder.explanation(c), hold=True, observer=Counted())
    right = "두 식을 변끼리 더하면 $2x=10$이다. 그러므로 $x=5$이다. 대입하면 $y=2$이다. 따라서 $x=5$, $y=2$이다."
    events = run(gate, model(right, pieces=40))
    assert [e.source for e in events if isinstance(e, Answering)] == ["model"]
    assert shown(events) == right and isinstance(events[-1], Checked) and events[-1].source == "model"


def test_a_held_answer_is_still_stopped_early_when_it_goes_wrong() -> None:
    """Holding looks at the growing text every few dozen characters: a loop stops the model long before
    its token limit, not at the end."""
    pulled = {"n": 0}

    async def looping() -> AsyncIterator[RouterEvent]:
        yield Started("scripted", "m")
        for _ in range(400):
            pulled["n"] += 1
            yield Delta("아래 1. ")

    c = case("ko-024", task="explain")
    events = run(Gate("explain", c, lambda: ladder.explanation(c), hold=True, observer=Counted()), looping())
    assert isinstance(events[-1], Checked) and events[-1].source == "bank"
    assert events[-1].model_checks[0].check == "degenerate" and pulled["n"] < 60


def test_a_held_answers_verdict_does_not_depend_on_where_its_pieces_were_cut() -> None:
    """Held, an English opening is outweighed by the Korean rest: judged whole, whatever the cut."""
    c = case("ko-024", task="explain")
    text = (
        "Okay, here it goes. "
        + "두 식을 변끼리 더하면 $2x=10$이다. 그러므로 $x=5$이다. 대입하면 $y=2$이다. 따라서 $x=5$, $y=2$이다."
    )
    sources = set()
    for pieces in (1, 2, 3, 7, 40, 80):
        events = run(
            Gate("explain", c, lambda: ladder.explanation(c), hold=True, observer=Counted()), model(text, pieces=pieces)
        )
        checked = events[-1]
        assert isinstance(checked, Checked)
        sources.add(checked.source)
    assert sources == {"model"}


def test_a_broken_stream_is_replaced() -> None:
    async def broken() -> AsyncIterator[RouterEvent]:
        yield Started("scripted", "m")
        yield Delta("두 식을 변끼리 더하면 ")
        yield StreamError("scripted", "connection reset", "두 식을")

    seen = Counted()
    events = run(hint_gate(seen), broken())
    assert isinstance(events[-1], Checked) and events[-1].source == "bank"
    assert events[-1].model_checks[0].check == "answered"


def test_a_check_that_raises_fails_the_answer_and_the_bank_replaces_what_was_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception inside a check is the answer's failure, counted, never the request's: the sentences
    already released are replaced by the bank's explanation."""
    from jindan.answers import gate as gate_module

    calls = {"n": 0}
    real = gate_module.streaming

    def flaky(c: checks.Case, text: str, held: bool = False) -> checks.Verdict | None:
        calls["n"] += 1
        if calls["n"] > 6:
            raise IndexError("list index out of range")
        return real(c, text, held)

    monkeypatch.setattr(gate_module, "streaming", flaky)
    c = case("ko-024", task="explain")
    seen = Counted()
    gate = Gate("explain", c, lambda: ladder.explanation(c), hold=False, observer=seen)
    right = "두 식을 변끼리 더하면 $2x=10$이다. 그러므로 $x=5$이다. 대입하면 $y=2$이다. 따라서 $x=5$, $y=2$이다."
    events = run(gate, model(right, pieces=12))
    assert isinstance(events[-1], Checked) and events[-1].source == "bank" and events[-1].model_passed is False
    assert events[-1].model_checks[0].check == "checked" and "IndexError" in events[-1].model_checks[0].reason
    assert shown(events).startswith("두 식을 변끼리 더하면") and seen.results  # the bank's, and counted


def test_a_route_that_does_not_ask_the_model_answers_from_the_bank_and_says_why() -> None:
    seen = Counted()
    gate = hint_gate(seen)
    from jindan.answers.checks import Verdict

    async def go() -> list[GateEvent]:
        why = Verdict("language", False, "smollm2-135m cannot write Korean")
        return [ev async for ev in gate.run(None, why)]

    events = asyncio.run(go())
    checked = events[-1]
    assert isinstance(checked, Checked) and checked.model_passed is False and checked.source == "bank"
    assert seen.results[0][2] is None  # nothing the model wrote: no example
