"""`jindan eval structured`: how schema answers are judged (a cut answer never counts as complete), and the
command's JSON on the embedded model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jindan.cli.main import app
from jindan.console.demo import BANK
from jindan.evaluation.structured import SCHEMA, ask, judge, questions, summary
from jindan.llm.base import ChatMessage, Delta, GenOptions, Usage
from jindan.llm.router import RouterEvent, Started, StreamError

WHOLE = '{"answer": "-15", "reason": "곱셈을 먼저 한다.", "difficulty": 2}'


def usage(reason: str | None) -> Usage:
    return Usage("llamacpp", "m", 10, 20, total_ms=5, finish_reason=reason)


def test_a_cut_answer_is_never_complete_even_when_it_parses() -> None:
    cut = judge(WHOLE, usage("length"), False, 1.0)  # cut exactly at the closing brace: still cut
    assert (cut.finish_reason, cut.parsed, cut.complete, cut.valid) == ("length", True, False, False)
    half = judge(WHOLE[:20], usage("length"), False, 1.0)
    assert (half.parsed, half.complete, half.valid) == (False, False, False)
    broken = judge(WHOLE, usage("stop"), True, 1.0)
    assert (broken.finish_reason, broken.complete, broken.valid) == ("broken", False, False)
    whole = judge(WHOLE, usage("stop"), False, 1.0)
    assert (whole.complete, whole.valid) == (True, True)
    out_of_range = judge(WHOLE.replace('"difficulty": 2', '"difficulty": 9'), usage("stop"), False, 1.0)
    assert (out_of_range.complete, out_of_range.valid) == (True, False)
    report = summary([cut, half, broken, whole, out_of_range])
    assert report["completion_rate"] == 0.4 and report["validation_rate"] == 0.2
    assert report["finish_reasons"] == {"length": 2, "stop": 2, "broken": 1}
    assert len(report["examples"]) == 4 and report["examples"][0]["finish_reason"] == "length"


def test_ask_sends_the_schema_and_reads_the_stream() -> None:
    seen: list[GenOptions] = []

    async def stream(route: str, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[RouterEvent]:
        seen.append(opts)
        assert route == "chat" and messages[-1].content == "2+2?"
        yield Started("llamacpp", "m")
        yield Delta(WHOLE[:10])
        yield StreamError("llamacpp", "reset", WHOLE[:10])

    outcome = asyncio.run(ask(stream, "chat", "2+2?", 64))
    assert (seen[0].json_schema, seen[0].max_tokens, seen[0].temperature) == (SCHEMA, 64, 0.0)
    assert (outcome.finish_reason, outcome.text, outcome.complete) == ("broken", WHOLE[:10], False)
    asyncio.run(ask(stream, "chat", "2+2?", 64, mode="prompt"))  # the comparison: the schema in words only
    assert seen[1].json_schema is None


def test_questions_are_drawn_with_their_choices() -> None:
    drawn = questions(BANK, 5, 0)
    assert len(drawn) == 5 and drawn == questions(BANK, 5, 0) and len(set(drawn)) == 5
    assert any("\n1) " in q for q in questions(BANK, 50, 0))


@pytest.mark.slow
def test_command_json_on_the_embedded_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["eval", "structured", "--sample", "2", "--max-tokens", "96", "--json"],
        env={"JINDAN_HOME": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["answers"] == 2 and report["providers"] == ["llamacpp"]
    assert sum(report["finish_reasons"].values()) == 2
    assert 0 <= report["validation_rate"] <= report["completion_rate"] <= 1
