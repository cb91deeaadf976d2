"""Hints and explanations from the bank itself: a hint ladder built from a question's own official solution.

Level 1 names the concept and what to look at first; level 2 gives the solution's first step with this
question's numbers; level 3 (and on, for longer solutions) the next step. The final answer never appears: a
step that reaches it has the value masked (``□``), and a step still revealing it after that is left out.
The level is the one asked for, or further up when the student's text already holds a step's results.
Questions without a solution get a concept-level hint that says so, taking only the method (never the
numbers) of the nearest bank question that has one. Every candidate is judged by the same checks as a model's
answer; ``best`` returns the first that passes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from jindan.answers.checks import Case, Verdict, judge, leak, passed
from jindan.answers.keys import agrees, key_parts
from jindan.answers.text import MATH, letters, numbers, prose, sentences

WORDS = {
    "ko": {
        "concept": "「{c}」{p} 이용하는 문제예요.",
        "look": "{clause} 어떻게 되는지부터 살펴보세요.",
        "start": "풀이의 첫 단계부터 차근차근 해 보세요.",
        "method": "먼저 이렇게 시작해요: {s}",
        "first": "첫 단계: {s}",
        "next": "다음 단계: {s}",
        "own": "마지막 계산은 직접 해 보세요.",
        "no_solution": "이 문제의 풀이는 아직 문제집에 없어요.",
        "neighbour": "같은 개념을 쓰는 문제 {id}번의 풀이는 이렇게 시작해요: {clause} …",
        "answer": "따라서 정답은 {key}이다.",
        "nearest": "검사를 통과한 답을 만들지 못했어요. 비슷한 문제를 참고해 보세요: {items}",
        "none": "지금은 검사를 통과한 답을 드릴 수 없어요. 선생님께 물어봐 주세요.",
    },
    "en": {
        "concept": "This question uses {c}.",
        "look": "Start by looking at what happens when {clause}.",
        "start": "Work through the first step of the solution carefully.",
        "method": "Start like this: {s}",
        "first": "First step: {s}",
        "next": "Next step: {s}",
        "own": "Do the last calculation yourself.",
        "no_solution": "This question has no worked solution in the bank yet.",
        "neighbour": "Question {id}, which uses the same idea, starts like this: {clause} …",
        "answer": "So the answer is {key}.",
        "nearest": "No answer passed the checks. These similar questions may help: {items}",
        "none": "No answer that passed the checks is available right now. Please ask your teacher.",
    },
}
_CLAUSE_KO = re.compile(r"^([^.]*?면)(?:\s|$)")  # a condition: 두 식을 변끼리 더하면
_CLAUSE_EN = re.compile(r"^(?:if|when)\s+(.*?)(?:,|$)", re.IGNORECASE)
MAX_STEPS = 4  # steps a ladder shows at most (a long solution's later steps are the student's own work)
_CONCLUDES = re.compile(r"^(따라서|그러므로|그래서|즉|therefore|thus|hence|so)\b", re.IGNORECASE)


@dataclass(frozen=True)
class BankAnswer:
    """An answer built from the bank: ``kind`` is ladder | solution | concept | nearest | none."""

    text: str
    kind: str
    level: int | None = None
    ref: int | str | None = None  # the question whose solution it came from
    verdicts: tuple[Verdict, ...] = ()

    @property
    def passed(self) -> bool:
        return self.kind != "none" and passed(list(self.verdicts))


@dataclass(frozen=True)
class Neighbour:
    id: int | str
    explanation: str
    concepts: tuple[str, ...] = ()


def _words(case: Case) -> dict[str, str]:
    return WORDS["ko" if case.language == "ko" else "en"]


def particle(word: str, pair: tuple[str, str] = ("을", "를")) -> str:
    """Korean object particle after ``word`` (을 after a final consonant, 를 after a vowel)."""
    last = word.rstrip()[-1:] if word.strip() else ""
    if "\uac00" <= last <= "\ud7a3":
        return pair[0] if (ord(last) - 0xAC00) % 28 else pair[1]
    return f"{pair[0]}({pair[1]})"


_RESULT = re.compile(r"(=\s*)(-?\\[dt]?frac\{[^{}]*\}\{[^{}]*\}|-?\d+(?:\.\d+)?(?:/\d+)?)")


def _mask(step: str, case: Case) -> str | None:
    """The step as a hint may show it: results equal to the key's values masked (``x=\\square``); None when
    it still gives the answer away."""
    probe = replace(case, task="hint", explanation=None, context=())
    if _passes_leak(probe, step):
        return step
    values = {p.value for p in key_parts(case.key or "") if p.value is not None}

    def result(m: re.Match[str]) -> str:
        found = numbers(m.group(2))
        return m.group(1) + "\\square" if found and found[0] in values else m.group(0)

    masked = MATH.sub(lambda m: _RESULT.sub(result, m.group(0)), step)
    masked = re.sub(
        r"(?<![$\\\w])(=\s*)(-?\d+(?:\.\d+)?)(?![\d.])", lambda m: result(m).replace("\\square", "□"), masked
    )
    return masked if _passes_leak(probe, masked) else None


def _passes_leak(probe: Case, text: str) -> bool:
    verdict = leak(probe, text)
    return verdict is None or verdict.passed


def steps(case: Case) -> list[str]:
    """The solution's steps as a hint may show them: the key masked, concluding sentences left out."""
    out = []
    for s in sentences(case.explanation or ""):
        if "\\boxed" in s or (_CONCLUDES.match(prose(s).strip()) and case.key and agrees(s, case.key)[0]):
            continue
        masked = _mask(s, case)
        if masked is not None and masked.strip():
            out.append(masked)
    return out


def _clause(step: str, language: str) -> str:
    """The method part of a step: its condition before any result (``두 식을 변끼리 더하면``, ``닭을 $x$마리라
    하면``), or "" when the step has none."""
    m = (_CLAUSE_KO if language == "ko" else _CLAUSE_EN).match(step.strip())
    clause = (m.group(1) if m else "").strip(" ,")
    return "" if "=" in clause or "\\square" in clause or "□" in clause else clause


def _concept_line(case: Case) -> str:
    w = _words(case)
    if not case.concepts:
        return ""
    names = ", ".join(case.concepts[:2])
    return w["concept"].format(c=names, p=particle(case.concepts[min(1, len(case.concepts) - 1)]))


def reached(case: Case, ladder_steps: Sequence[str]) -> int:
    """How many steps the student's text already holds the results of (0: none, or no text)."""
    if not case.student:
        return 0
    given = set(numbers(case.student)) - set(numbers(case.question))
    done = 0
    for i, s in enumerate(ladder_steps, 1):
        new = set(numbers(s)) - set(numbers(case.question))
        if new and new <= given:
            done = i
    return done


def ladder(case: Case) -> list[str]:
    """Every level of the hint ladder, level 1 first."""
    w = _words(case)
    found = steps(case)
    lines = [_concept_line(case)]
    clause = _clause(found[0], case.language) if found else ""
    if found and not clause and not re.search(r"\d|\$|\\\(|\\\[", found[0]):
        lines.append(w["method"].format(s=found.pop(0)))  # a first step of words only is the method itself
    else:
        lines.append(w["look"].format(clause=clause) if clause else w["start"])
    out = [" ".join(x for x in lines if x)]
    found = found[:MAX_STEPS]
    for i, s in enumerate(found):
        masked = "\\square" in s or "□" in s
        last = i == len(found) - 1
        if last and not masked and i > 0:
            break  # a last step that shows its result is the answer in other words: the student takes it
        text = w["first" if i == 0 else "next"].format(s=s) + (" " + w["own"] if masked and last else "")
        if _passes_leak(replace(case, task="hint"), text):  # a step that is most of the solution is not shown
            out.append(text)
    return out


def hint(case: Case, level: int = 1, neighbours: Sequence[Neighbour] = ()) -> BankAnswer:
    """The bank's hint at ``level`` (raised to the student's progress), the first candidate that passes."""
    if not case.explanation:
        return _concept_hint(case, neighbours)
    levels = ladder(case)
    done = reached(case, steps(case))
    start = max(level, done + 2) if done else level
    start = min(max(start, 1), len(levels))
    order = [*range(start, len(levels) + 1), *range(start - 1, 0, -1)]  # climb, else step back down
    for lv in order:
        answer = _judged(case, levels[lv - 1], "ladder", lv)
        if answer.passed:
            return answer
    return _concept_hint(case, neighbours)


def _concept_hint(case: Case, neighbours: Sequence[Neighbour]) -> BankAnswer:
    w = _words(case)
    head = [w["no_solution"]] if not case.explanation else []
    concept = _concept_line(case)
    for n in neighbours:
        first = sentences(n.explanation)[:1]
        clause = _clause(first[0], case.language) if first else ""
        if clause:
            text = " ".join([*head, concept, w["neighbour"].format(id=n.id, clause=clause)])
            answer = _judged(case, text, "concept", None, n.id)
            if answer.passed:
                return answer
    if concept:
        answer = _judged(case, " ".join([*head, concept, w["start"]]), "concept", None)
        if answer.passed:
            return answer
    return none(case)


def explanation(case: Case) -> BankAnswer:
    """The bank's own solution, with its final answer stated when the text leaves it implicit."""
    if not case.explanation:
        return none(case)
    text = case.explanation.strip()
    if case.key:
        ok, found = agrees(text, case.key)
        if (not ok and not found) or (ok and not letters(prose(text))):  # unsaid, or formulas alone: say it
            text += " " + _words(case)["answer"].format(key=case.key.strip())
    return _shown_if_passed(case, _judged(case, text, "solution", None))


def nearest(case: Case, titles: Sequence[tuple[int | str, str]]) -> BankAnswer:
    """For a free question no answer passed: the bank's nearest questions, said plainly."""
    items = "; ".join(
        f"{qid}번 {title[:60]}" if case.language == "ko" else f"{qid}: {title[:60]}" for qid, title in titles
    )
    if not items:
        return none(case)
    return _shown_if_passed(case, _judged(case, _words(case)["nearest"].format(items=items), "nearest", None))


def none(case: Case) -> BankAnswer:
    """Nothing passed the checks: an honest notice (not an answer, never counted as presentable)."""
    return BankAnswer(_words(case)["none"], "none")


def _judged(case: Case, text: str, kind: str, level: int | None, ref: int | str | None = None) -> BankAnswer:
    return BankAnswer(text, kind, level, ref, tuple(judge(case, text)))


def _shown_if_passed(case: Case, answer: BankAnswer) -> BankAnswer:
    """The bank's answer when it passes its checks, else the notice (a solution that disagrees with its own key
    is not shown: one of the two is wrong)."""
    return answer if answer.passed else none(case)
