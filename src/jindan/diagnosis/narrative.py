"""Feedback in words from the structured result: the LLM writes, the numbers come only from the result.

The model gets the result as JSON and must answer in a JSON schema ``{student, teacher}``. Both texts are
judged before anyone reads them: every number must be one the result contains (mastery as a percentage, answer
counts), the prose must be in the reader's language, and it must not loop (the answer checks,
:mod:`jindan.answers.checks`). A text that fails is regenerated once, then replaced by a template; the model's own
verdicts are kept on the result and told to the answer observer (metrics, daily counts), so its pass rate is
reported, not hidden behind the template. Works with every provider: the schema is sent where the backend
supports it and the JSON is parsed either way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from jindan.answers import checks
from jindan.answers.checks import Verdict
from jindan.answers.gate import AnswerObserver, Checked
from jindan.answers.text import language_of
from jindan.diagnosis.engine import DiagnosisResult
from jindan.llm.base import ChatMessage, Delta, GenOptions, ProviderError
from jindan.llm.router import Router, Started, StreamError

SCHEMA = {
    "type": "object",
    "properties": {"student": {"type": "string"}, "teacher": {"type": "string"}},
    "required": ["student", "teacher"],
}
NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
ROUTE = "diagnosis"


@dataclass
class Narrative:
    student: str
    teacher: str
    source: str  # llm | template
    attempts: int
    checks: tuple[Verdict, ...] = field(default=(), repr=False)  # the model's last text, as judged

    @property
    def failed(self) -> list[str]:
        """The checks the model's last text failed (none when it is shown, or when no text came back)."""
        return sorted({v.check for v in self.checks if not v.passed})

    def shown(self) -> dict[str, object]:
        """What a reply and a stored session carry: both texts, where they came from, what the model failed."""
        return {"student": self.student, "teacher": self.teacher, "source": self.source, "failed": self.failed}


def facts(result: DiagnosisResult) -> dict[str, object]:
    by_id = {c.concept_id: c for c in result.concepts}

    def item(cid: int) -> dict[str, object]:
        c = by_id[cid]
        return {"concept": c.name, "mastery_percent": round(c.mastery * 100), "answers": c.evidence}

    return {
        "answers_total": result.responses,
        "ability_percent": round(result.ability * 100),
        "weakest": [item(c) for c in result.weakest],
        "strengths": [item(c) for c in result.strengths],
        "recommended_questions": len(result.recommendations),
    }


def reader_language(result: DiagnosisResult, default: str) -> str:
    """The language the feedback is written and judged in: the concepts' (a bank of Korean units is read by
    Korean students and teachers, as a Korean question is answered in Korean), else ``default``."""
    return language_of(" ".join(c.name for c in result.concepts), default)


def allowed_numbers(data: dict[str, object]) -> set[str]:
    return set(NUMBER.findall(json.dumps(data, ensure_ascii=False)))


def judge(texts: tuple[str, str], language: str, allowed: set[str]) -> tuple[Verdict, ...]:
    """The student's and the teacher's text as the answer checks judge any answer: its numbers are the result's,
    its prose is in ``language``, it is not empty and does not loop."""
    case = checks.Case("feedback", language)
    out: list[Verdict] = []
    for who, text in zip(("student", "teacher"), texts, strict=True):
        invented = [n for n in NUMBER.findall(text) if n not in allowed]
        why = (
            f"{who}: a number the result does not hold ({invented[0]})"
            if invented
            else f"{who}: numbers from the result"
        )
        out.append(Verdict("numbers", not invented, why))
        for v in (checks.language(case, text), checks.degenerate(case, text)):
            if v is not None:
                out.append(Verdict(v.check, v.passed, f"{who}: {v.reason}"))
    return tuple(out)


def template(result: DiagnosisResult, language: str) -> Narrative:
    f = facts(result)
    weak = ", ".join(f"{w['concept']} ({w['mastery_percent']}%)" for w in f["weakest"])  # type: ignore[attr-defined]
    strong = ", ".join(f"{s['concept']} ({s['mastery_percent']}%)" for s in f["strengths"])  # type: ignore[attr-defined]
    if language == "ko":
        student = (
            f"지금까지 {f['answers_total']}문제를 풀었어요. "
            + (f"더 연습하면 좋은 개념: {weak}. " if weak else "")
            + (f"잘하고 있는 개념: {strong}." if strong else "")
        )
        teacher = (
            f"응답 {f['answers_total']}개 기준 예측 정답률 {f['ability_percent']}%. "
            + (f"취약 개념: {weak}. " if weak else "")
            + (f"강점: {strong}." if strong else "")
        )
    else:
        student = (
            f"You have answered {f['answers_total']} questions. "
            + (f"Concepts to practise: {weak}. " if weak else "")
            + (f"Going well: {strong}." if strong else "")
        )
        teacher = (
            f"{f['answers_total']} responses; predicted success {f['ability_percent']}%. "
            + (f"Weakest: {weak}. " if weak else "")
            + (f"Strengths: {strong}." if strong else "")
        )
    return Narrative(student.strip(), teacher.strip(), "template", 0)


async def write(
    router: Router,
    result: DiagnosisResult,
    language: str,
    *,
    attempts: int = 2,
    max_tokens: int = 400,
    observer: AnswerObserver | None = None,
) -> Narrative:
    data = facts(result)
    allowed = allowed_numbers(data)
    lang = "Korean (한국어)" if language == "ko" else "English" if language == "en" else language
    messages = [
        ChatMessage(
            "system",
            (
                f"You write short learning feedback in {lang}. Reply with JSON: "
                '{"student": "2-3 encouraging sentences to the student", '
                '"teacher": "2-3 factual sentences for the teacher"}. '
                "Use only numbers that appear in the data; never invent a number."
            ),
        ),
        ChatMessage("user", "Diagnosis data:\n" + json.dumps(data, ensure_ascii=False)),
    ]
    verdicts: tuple[Verdict, ...] = ()
    started = Started("", "")
    for attempt in range(1, attempts + 1):
        text: str | None = None
        try:
            started, text = await _text(
                router, messages, GenOptions(temperature=0.3, max_tokens=max_tokens, json_schema=SCHEMA)
            )
            parsed = json.loads(text[text.find("{") : text.rfind("}") + 1])
            student, teacher = str(parsed["student"]).strip(), str(parsed["teacher"]).strip()
        except (ProviderError, ValueError, KeyError, TypeError):
            if text is not None:  # the model answered, but not with both texts (no answer: the last verdicts stand)
                verdicts = (Verdict("degenerate", False, "no JSON with both texts"),)
            continue
        verdicts = judge((student, teacher), language, allowed)
        if checks.passed(list(verdicts)):
            return _told(observer, started, Narrative(student, teacher, "llm", attempt, verdicts))
    fallback = template(result, language)
    fallback.attempts, fallback.checks = attempts, verdicts
    return _told(observer, started, fallback)


def _told(observer: AnswerObserver | None, started: Started, n: Narrative) -> Narrative:
    """The answer observer hears how the model's text fared (``None``: the model gave no text to judge)."""
    if observer is not None:
        model_passed = checks.passed(list(n.checks)) if n.checks else None
        done = Checked(n.source, True, (), model_passed, n.checks, started.provider, started.model)
        observer.checked(ROUTE, done, None)
    return n


async def _text(router: Router, messages: list[ChatMessage], opts: GenOptions) -> tuple[Started, str]:
    parts: list[str] = []
    started = Started("", "")
    async for ev in router.stream(ROUTE, messages, opts):
        if isinstance(ev, Started):
            started = ev
        elif isinstance(ev, Delta):
            parts.append(ev.text)
        elif isinstance(ev, StreamError):
            raise ValueError(ev.message)  # a broken answer is retried, never shown
    return started, "".join(parts)
