"""The checks every hint, explanation and answer passes before a student reads it: pure functions, one verdict.

Each check reads the answer's text and the ``Case`` it answers (the question, its key and official solution,
the student's text, the retrieved items and the instructions the model was given) and returns a ``Verdict``
(check, passed, reason), or None when it cannot judge (no key, nothing to compare with, too little text yet):

- ``language``: the prose outside formulas is in the question's language (Korean: at least half Hangul);
- ``leak`` (hints): the final answer is not stated in any of its forms (``\\frac{5}{4}``, ``5/4``, ``1.25``,
  ``④``, ``x=5``), and the hint is not a worked solution of this question or of a retrieved one;
- ``echo``: no prompt scaffolding (fence tags, item markers, the instructions), not a copy of the question, of
  the student's text or of a retrieved item, and no step taken from another question (its equations);
- ``degenerate``: not empty, no phrase or sentence looping, not cut by the token limit mid-sentence;
- ``grounded`` (hints): it points at this question's method: a concept, expression, operation or value that
  the official solution uses and the question does not already show;
- ``correct`` (explanations, answers about a bank question): the final answer agrees with the key, by
  normalised text, by value, and by symbolic equivalence (``math-verify``, the verifier MATH evaluations use).

``streaming`` runs what can be judged on a partial answer (language, leak, echo, loops), so a failing answer
is stopped early; ``judge`` runs everything on the finished answer.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise

from jindan.answers import grading
from jindan.answers.keys import agrees, committed, key_parts
from jindan.answers.text import (
    copied,
    ends_a_sentence,
    equations,
    formulas_of,
    letters,
    numbers,
    plain,
    prose,
    sentences,
    stated,
    tokens,
)
from jindan.text.lexical import terms

CHECKS = ("language", "leak", "echo", "degenerate", "grounded", "correct")
APPLIES = {
    "hint": ("language", "leak", "echo", "degenerate", "grounded"),
    "explain": ("language", "echo", "degenerate", "correct"),
    "ask": ("language", "echo", "degenerate", "correct"),
}
MIN_LETTERS = 12  # prose letters before the language of a partial answer is judged
SCAFFOLD = re.compile(
    r"[<‹]\s*/?\s*(?:student|context|target|item)\b|^\s*(?:official\s+)?solution\s*:|\bofficial solution\s*:|"
    r"\bkind\s*=\s*\"|\bid\s*=\s*\"\d",  # "Solution:" labels the prompt's items; "Second solution:" is prose
    re.IGNORECASE | re.MULTILINE,
)
HINT_MARKER = re.compile(r"\banswer\s*:", re.IGNORECASE)
GENERIC = frozenset(  # words any hint may use: pointing at them is not pointing at a method
    """
        문제 답 정답 값 구하 다음 보 생각 하 있 되 이 그 것 수 때
        풀 풀이 먼저 다시 읽 주어지 조건 잘 확인 시 오 나 위 아래 식 계산
        알 찾 쓰 방법 단계 힌트 이용 사용 필요 경우
        a question answer problem find read again think about given step first
        next try solve value look carefully what hint use using need
    """.split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Verdict:
    check: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class Case:
    """What an answer answers. ``question`` is the target as the student sees it (body and choices)."""

    task: str  # hint | explain | ask
    language: str
    question: str = ""
    key: str | None = None
    explanation: str | None = None
    concepts: tuple[str, ...] = ()
    student: str | None = None
    context: tuple[str, ...] = ()  # the retrieved items as the model read them
    prompt: str = ""  # the instructions and task the model was given
    choices: tuple[str, ...] = ()  # a multiple choice's options, ①-⑤ in order


def _ok(check: str, reason: str) -> Verdict:
    return Verdict(check, True, reason)


def _fail(check: str, reason: str) -> Verdict:
    return Verdict(check, False, reason)


_BARE_MATH = re.compile(  # formulas written without $: sin x, \\frac, a single variable, AB, cm (not English words)
    r"\\[A-Za-z]+|(?<![A-Za-z])(?:sin|cos|tan|cot|sec|csc|log|ln|lim|exp|max|min|gcd|lcm|mod|cm|mm|km|kg|mL|"
    r"[A-Z]{1,4}|[a-z])(?![A-Za-z])"
)


def language(case: Case, text: str, partial: bool = False) -> Verdict | None:
    p = prose(text)
    if case.language == "ko":
        p = _BARE_MATH.sub(" ", p)
    n = letters(p)
    if partial and n < MIN_LETTERS:
        return None
    if n == 0:
        return _fail("language", "no words, only formulas or symbols")
    share = grading.hangul_share(p)
    if case.language == "ko":
        if share >= 0.5:
            return _ok("language", f"Korean ({share:.0%} Hangul)")
        return _fail("language", f"not Korean: {share:.0%} of the prose is Hangul")
    if share < 0.2:
        return _ok("language", f"not Korean, as the question ({share:.0%} Hangul)")
    return _fail("language", f"the question is not Korean but {share:.0%} of the answer is Hangul")


def leak(case: Case, text: str) -> Verdict | None:
    key = (case.key or "").strip()
    if not key:
        return None
    commits = committed(text)
    if commits is not None and grading.same_answer(commits, key):
        return _fail("leak", f"states the answer ({commits[:40]})")
    results = _results(text, _asked(case.question))
    if key[0] in grading.CIRCLED:
        why = _choice_leak(case, text, key, results)
        if why:
            return _fail("leak", why)
    q_numbers = set(numbers(case.question))
    q_equations = set(equations(case.question))
    text_numbers = set(stated(text))
    for part in key_parts(key):
        for eq in equations(text):
            left, _, right = eq.rpartition("=")
            rv = numbers(right)
            if part.value is None or len(rv) != 1 or rv[0] != part.value or eq in q_equations:
                continue
            if part.var is None or left.endswith(part.var):
                return _fail("leak", f"reaches the answer ({eq})")
        if part.value is not None and part.value not in q_numbers and part.value in text_numbers:
            distinctive = part.value.denominator != 1 or abs(part.value) >= 10
            if distinctive:
                return _fail("leak", f"gives the answer's value ({part.text})")
            if part.value in results:
                return _fail("leak", f"gives the answer's value as its result ({part.text})")
        if (
            part.value is None
            and len(part.canon) >= 3
            and part.canon in plain(text)
            and part.canon not in plain(case.question)
        ):
            return _fail("leak", f"gives the answer ({part.text[:40]})")
    return _worked(case, text)


_COUNTER = (  # a counted thing right after the number; a Latin unit may stand after a space
    r"(?:개|명|마리|권|자루|송이|그루|켤레|가지|쪽|살|개월|시간)|"
    r"\s?(?:cm|mm|km|kg|mL|m|g|L|apples?|people|dollars?|cents?|ways|days|hours|minutes|years)(?![A-Za-z])|[%°]"
)
_ENDS_ON = (  # a sentence whose words end on the number: "그 수는 3이에요.", "There are 3." / "The answer is 3."
    r"\s*(?:이에요|예요|이다|다|입니다|이야|야|이죠|죠|이네요|네요|이랍니다|랍니다|이고요|"
    r"(?:이|가)\s*(?:돼요|된다|됩니다|나와요|나온다|나옵니다))?\s*[.!?]*$"
)
_NUMBER_FORMULA = re.compile(r"\$\s*(-?\d+(?:\.\d+)?)\s*\$")
# words that also read as counters ("3일 때", "3도 소수", "3배 하면") count only when the question asks in them
_ASKABLE = r"번째|번|배|일|도|대|장|점|분|초|주|년|층|줄|칸|쌍|벌|채|잔|병|통|회|등|위|시간|시"
_ASKED = re.compile(rf"몇\s*({_ASKABLE})|(며칠)|\b[Hh]ow many\s+([A-Za-z]{{3,}})")


def _asked(question: str) -> str:
    """The counters a question asks its answer in ("몇 배", "몇 번째", "며칠", "how many times"), as a pattern:
    a number given in one of them is the answer's value."""
    found: list[str] = []
    for m in _ASKED.finditer(question):
        if m.group(1) or m.group(2):
            found.append(re.escape(m.group(1) or "일"))
        else:
            found.append(rf"\s?(?i:{re.escape(m.group(3).lower().removesuffix('s'))})s?(?![A-Za-z])")
    return "|".join(sorted(set(found), key=len, reverse=True))


@lru_cache(maxsize=256)
def _result_pattern(asked: str) -> re.Pattern[str]:
    counted = f"{_COUNTER}|{asked}" if asked else _COUNTER
    return re.compile(rf"(?<![\d.,])(\d+)(?:{counted}|{_ENDS_ON})")


def _results(text: str, asked: str = "") -> set[Fraction]:
    """The small whole values a text gives as results: a number its sentence's words end on, or a count of
    things (``모두 3가지``, ``$3$개``, ``7 apples``, or ``3배`` when the question asks "몇 배"). A hint may name
    small numbers while it guides (``2로 나누어 보세요``, one of several values listed); a count or a closing
    value is an answer."""
    said = prose(_NUMBER_FORMULA.sub(r" \1", text))  # a formula that is only a number is read as the number
    pattern = _result_pattern(asked)
    found: set[Fraction] = set()
    for sentence in sentences(said):
        for m in pattern.finditer(sentence):
            found.add(Fraction(int(m.group(1))))
    return found


def _choice_leak(case: Case, text: str, key: str, results: set[Fraction]) -> str | None:
    mark = key[0]
    n = grading.CIRCLED.index(mark) + 1
    if mark in text or re.search(rf"(?<![\d.]){n}\s*번", text):
        return f"names the right choice ({mark})"
    right = case.choices[n - 1] if n <= len(case.choices) else key[1:]
    others = [c for i, c in enumerate(case.choices) if i != n - 1]
    said = plain(text)
    if len(plain(right)) >= 2 and plain(right) in said and not any(plain(o) in said for o in others if plain(o)):
        return "quotes the right choice"
    value = numbers(right)
    values = set(numbers(text)) - set(numbers(_stem(case)))  # the question's own numbers say nothing
    if len(value) == 1 and value[0] in values and not any(set(numbers(o)) & values for o in others):
        return "gives the right choice's value"
    if len(value) == 1 and value[0] in results:
        return "gives the right choice's value as its result"
    return None


def _stem(case: Case) -> str:
    """The question without its choices (``case.question`` shows them as ``(1) ...`` lines)."""
    stem = case.question
    for i, choice in enumerate(case.choices, 1):
        stem = stem.replace(f"({i}) {choice}", " ")
    return stem


def _worked(case: Case, text: str) -> Verdict:
    own = set(equations(case.question)) | set(equations(case.student or ""))
    steps = [e for e in equations(text) if e not in own and _computed(e)]
    if len(steps) >= 3:
        return _fail("leak", f"works the solution through ({len(steps)} computed steps)")
    if case.explanation and len(plain(case.explanation)) >= 30 and copied(case.explanation, text) >= 0.75:
        return _fail("leak", "gives the whole official solution")
    for n, item in enumerate(case.context, 1):
        if len(plain(text)) >= 30 and copied(text, item) >= 0.6:
            return _fail("leak", f"copies the worked solution of retrieved item [{n}]")
    return _ok("leak", "no final answer, no worked solution")


_ASSIGNMENT = re.compile(r"^[a-z](?:_\w+)?=")


def _computed(equation: str) -> bool:
    """A computation (``2x=10``, ``b^2-4ac=9+8=17``), not a value given or named (``a=2``, ``x=5``)."""
    return equation.count("=") >= 2 or not _ASSIGNMENT.match(equation)


def scaffold(case: Case, text: str) -> Verdict | None:
    m = SCAFFOLD.search(text) or (HINT_MARKER.search(text) if case.task == "hint" else None)
    return _fail("echo", f"prompt scaffolding in the answer ({m.group(0).strip()})") if m else None


def echo(case: Case, text: str, partial: bool = False) -> Verdict | None:
    scaffolded = scaffold(case, text)
    if scaffolded:
        return scaffolded
    size = len(plain(text))
    if partial and size < 20:
        return None
    if size >= 20 and case.prompt and copied(text, case.prompt) >= 0.5:
        return _fail("echo", "repeats the instructions")
    if size >= 20 and copied(text, case.question) >= 0.7:
        return _fail("echo", "repeats the question")
    if case.student and len(plain(case.student)) >= 8 and size >= 8 and copied(text, case.student) >= 0.6:
        return _fail("echo", "repeats the student's text")
    own = set(equations(case.question)) | set(equations(case.explanation or "")) | set(equations(case.student or ""))
    for n, item in enumerate(case.context, 1):
        if size >= 30 and copied(text, item) >= 0.7:
            return _fail("echo", f"copies retrieved item [{n}]")
        foreign = [e for e in equations(text) if e not in own and len(e) >= 4 and e in set(equations(item))]
        if len(foreign) >= (1 if case.task == "hint" else 2):
            return _fail("echo", f"uses a step of another question ({foreign[0]}, item [{n}])")
    return _ok("echo", "its own words")


def degenerate(case: Case, text: str, finish_reason: str | None = None, partial: bool = False) -> Verdict | None:
    if not partial and not re.search(r"[\w]", text):
        return _fail("degenerate", "empty")
    why = looping(text)
    if why:
        return _fail("degenerate", why)
    if not partial and finish_reason == "length" and not ends_a_sentence(text):
        return _fail("degenerate", "cut by the token limit mid-sentence")
    return None if partial else _ok("degenerate", "complete, no loop")


def looping(text: str) -> str | None:
    """Why a text is looping (a sentence again and again, a phrase repeated back to back, a few words covering
    most of it, empty list items), or None. A worked solution legitimately says a formula or a phrase several
    times ("the degree of", a matrix reused), so repetition counts only when it runs in a row or dominates."""
    said = [plain(s) for s in sentences(text)]
    counts = Counter(s for s in said if len(s) >= 6)
    if counts:
        _, times = counts.most_common(1)[0]
        if times >= 3:
            return f"repeats a sentence {times} times"
    if any(a == b and len(a) >= 6 for a, b in pairwise(said)):
        return "repeats a sentence twice in a row"
    counted = Counter(re.sub(r"\d+", "#", s) for s in said if s)  # "아래 1", "아래 2", ...: counting, not saying
    if counted:  # a table of values (x=1일 때 y=3) changes two numbers or more from line to line
        line, times = counted.most_common(1)[0]
        if times >= 4 and times >= 0.5 * len(said) and "#" in line and _changing(said, line) <= 1:
            return f"the same line with a number counting up ({times} times)"
    bare = [s for s in said if s and not re.search(r"[a-z\uac00-\ud7a3]", s)]
    if len(bare) >= 3 and len(bare) >= 0.4 * len(said):
        return f"{len(bare)} list items with nothing in them"
    words = tokens(text)  # a formula is one token: a solution reuses its formulas
    run = _in_a_row(words)
    if run:
        return run
    if len(words) >= 20:
        if _covered(words) >= 0.7:
            return "a few phrases cover most of it"
        if len(set(words)) / len(words) < 0.2:
            return "the same few words over and over"
    raw = plain(text).encode()
    if len(raw) >= 240 and len(zlib.compress(raw)) / len(raw) < 0.2:
        return "a long run of repeated text"
    return None


def _changing(lines: list[str], template: str) -> int:
    """How many of the template's number positions take more than one value over the lines of that template."""
    rows = [re.findall(r"\d+", s) for s in lines if re.sub(r"\d+", "#", s) == template]
    return sum(len(set(column)) > 1 for column in zip(*rows, strict=False))


_WORD = re.compile(r"[A-Za-z\uac00-\ud7a3]{2,}[.,;:!?]?")


def _in_a_row(words: list[str], longest: int = 16) -> str | None:
    """A phrase of words said three times back to back (twice when it is five words or more)."""
    for p in range(2, longest + 1):
        need = 2 if p >= 5 else 3
        for i in range(len(words) - need * p + 1):
            unit = words[i : i + p]
            if not any(_WORD.fullmatch(w) for w in unit):  # "$2,$ $3,$ $4,$" is a list, not a loop
                continue
            if all(words[i + k * p : i + (k + 1) * p] == unit for k in range(1, need)):
                times = need
                while words[i + times * p : i + (times + 1) * p] == unit:
                    times += 1
                return f"loops on '{' '.join(words[i : i + p])[:40]}' ({times} times in a row)"
    return None


def _covered(words: list[str]) -> float:
    """Share of the words inside a 4-word phrase that occurs 3+ times."""
    grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    common = {g for g, n in Counter(grams).items() if n >= 3}
    covered: set[int] = set()
    for i, g in enumerate(grams):
        if g in common:
            covered.update(range(i, i + 4))
    return len(covered) / len(words)


def grounded(case: Case, text: str) -> Verdict | None:
    if not case.explanation and not case.concepts:
        return None
    shown = set(terms(case.question))
    method = {t for t in terms(case.explanation or "") if t not in shown and t not in GENERIC}
    concept_terms = {t for c in case.concepts for t in terms(c) if t not in shown and t not in GENERIC}
    hits = sorted(t for t in method | concept_terms if said(t, text))
    if hits:
        return _ok("grounded", f"points at {', '.join(hits[:3])}")
    named = [c for c in case.concepts if plain(c) in plain(text) and plain(c) not in plain(case.question)]
    if named:
        return _ok("grounded", f"names the concept {named[0]}")
    given = set(equations(case.question))
    steps = [e for e in equations(case.explanation or "") if e in set(equations(text)) and e not in given]
    if steps:
        return _ok("grounded", f"points at {steps[0]}")
    formulas = [f for f in formulas_of(case.explanation or "") if f not in plain(case.question) and f in plain(text)]
    if formulas:
        return _ok("grounded", f"points at {formulas[0]}")
    return _fail(
        "grounded", "points at nothing in this question's method (no concept, expression or operation of its solution)"
    )


_HANGUL_WORD = re.compile(r"[\uac00-\ud7a3]+")
_TOKEN = re.compile(r"\\[A-Za-z]+|[A-Za-z]+|[0-9]+(?:\.[0-9]+)?")


def _initial(syllable: str) -> int:
    return (ord(syllable) - 0xAC00) // 588


def said(term: str, text: str) -> bool:
    """Does the text use the term? A Korean stem matches a word it starts (``대입`` in ``대입하면``), also
    contracted (``더하`` in ``더해``, ``나누`` in ``나눠``); other terms match whole tokens. Cheap: no tokenizer
    runs on the answer, only on the question and its solution (cached)."""
    if not _HANGUL_WORD.fullmatch(term):
        return len(term) >= 2 and term in {t.lower() for t in _TOKEN.findall(text)}
    for word in _HANGUL_WORD.findall(text):
        if word.startswith(term):
            return True
        if len(term) < 2:
            continue
        head, last = term[:-1], term[-1]
        if len(word) >= len(term) and word.startswith(head) and _initial(word[len(head)]) == _initial(last):
            return True
    return False


def correct(case: Case, text: str) -> Verdict | None:
    if not case.key:
        return None
    ok, found = agrees(text, case.key)
    if ok:
        return _ok("correct", f"final answer agrees with the key ({found[:40]})")
    return _fail("correct", f"final answer {found[:40]!r} does not agree with the key" if found else "no final answer")


def streaming(case: Case, text: str, held: bool = False) -> Verdict | None:
    """The first failure that a partial answer already shows (None: nothing wrong yet). ``held``: the answer is
    not shown before it is judged whole, so only what the whole will still show stops it early (scaffolding, a
    stated key, a loop), not a first sentence in another language or a restated question, which the rest may
    outweigh; the verdict then does not depend on where the stream's pieces were cut."""
    checks = (
        None if held else language(case, text, partial=True),
        leak(case, text) if case.task == "hint" else None,
        scaffold(case, text) if held else echo(case, text, partial=True),
        degenerate(case, text, partial=True),
    )
    return next((v for v in checks if v is not None and not v.passed), None)


def judge(case: Case, text: str, finish_reason: str | None = None) -> list[Verdict]:
    """Every check that applies to the finished answer, in ``CHECKS`` order."""
    run = {
        "language": lambda: language(case, text),
        "leak": lambda: leak(case, text),
        "echo": lambda: echo(case, text),
        "degenerate": lambda: degenerate(case, text, finish_reason),
        "grounded": lambda: grounded(case, text),
        "correct": lambda: correct(case, text),
    }
    verdicts = (run[name]() for name in APPLIES.get(case.task, APPLIES["ask"]))
    return [v for v in verdicts if v is not None]


def passed(verdicts: list[Verdict]) -> bool:
    return all(v.passed for v in verdicts)


def first_failure(verdicts: list[Verdict]) -> Verdict | None:
    return next((v for v in verdicts if not v.passed), None)
