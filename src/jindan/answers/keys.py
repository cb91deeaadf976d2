"""An answer key in parts, and whether an answer's final answer agrees with it.

A key is one value (``$-\\frac{5}{4}$``), several (``x=5, y=2``; ``2, 3``; ``$x=2$ 또는 $x=3$``), a tuple or
an expression kept whole (``(2, 3)``, ``2\\sqrt{3}``), or a multiple choice (``④ $-\\frac{5}{4}$``). The final
answer of a text is its last ``\\boxed{}``, else its last "answer is" / "정답은" phrase, else its last sentence
that holds a number or a formula. They agree by normalised text, by value, part by part, and by symbolic
equivalence (``math-verify``) where both sides parse.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from jindan.answers import grading
from jindan.answers.text import equations, numbers, plain, sentences

log = logging.getLogger(__name__)
_SPLIT = re.compile(r",|\s또는\s|\s및\s|\sand\s|\sor\s")
_ASSIGN = re.compile(r"^\s*(?:[\uac00-\ud7a3]+\s*)?([a-zA-Z](?:_\{?\d+\}?)?)\s*=\s*(.+?)\s*$")
_REMARK = re.compile(r"\([^()]*[\uac00-\ud7a3][^()]*\)")  # (C는 적분상수)
_SPACING = re.compile(r"\\[,;:! ]|\\quad|~")
TAIL = 3  # sentences at the end of an explanation where its final answer is looked for
_UNITS = re.compile(r"^(?:cm|mm|km|kg|mg|g|m|ml|l|h|s|%|°|\^\{?\\circ\}?|\\%)*$", re.IGNORECASE)
_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?")


def _unit_only(rest: str) -> bool:
    """Is what surrounds a key's one number only units and words (``8마리``, ``100 g``), not a variable?"""
    return bool(_UNITS.match(re.sub(r"[\uac00-\ud7a3\s,.()]", "", rest)))


@dataclass(frozen=True)
class KeyPart:
    text: str
    var: str | None  # x in x=5
    value: Fraction | None  # the part's value when it is one number
    canon: str  # the part in canonical form (what a text must hold when it has no value)


def _top_level_split(text: str) -> list[str]:
    if re.match(r"^\s*[(\[]", text) and re.search(r"[)\]]\s*$", text):
        return [text]  # a tuple or an interval is one answer
    return [p for p in _SPLIT.split(text) if p.strip()]


@lru_cache(maxsize=2048)
def key_parts(key: str) -> tuple[KeyPart, ...]:
    k = key.strip()
    if k and k[0] in grading.CIRCLED:
        k = k[1:].strip()
        if not k:
            return ()
    k = _SPACING.sub(" ", _REMARK.sub("", k.replace("$", ""))).strip().rstrip(".")
    parts = []
    for raw in _top_level_split(k):
        m = _ASSIGN.match(raw)
        var, rhs = (m.group(1).replace("{", "").replace("}", "").lower(), m.group(2)) if m else (None, raw)
        vals = numbers(rhs)
        single = len(vals) == 1 and _unit_only(_NUM.sub("", grading.normalise(rhs), count=1))
        canon = f"{var}={plain(rhs)}" if var else plain(raw)
        parts.append(KeyPart(raw.strip(), var, vals[0] if single else None, canon))
    return tuple(parts)


def committed(text: str) -> str | None:
    """What a text commits to as its answer (``\\boxed{}`` or an answer phrase), or None."""
    found = grading.boxed(text)
    if found is not None:
        return found
    phrases = grading.ANSWER_PHRASE.findall(text)
    return str(phrases[-1]).strip() if phrases else None


def final_segment(text: str) -> tuple[str, bool]:
    """(the final answer's text, whether the text committed to it explicitly): the committed answer, else the
    last ``TAIL`` sentences (an explanation states its parts near its end, not always in one sentence)."""
    stated = committed(text)
    if stated is not None:
        return stated, True
    return " ".join(sentences(text)[-TAIL:]), False


def _chained(segment: str, canon: str) -> bool:
    """Does the segment hold ``left=...=right`` for a part ``left=right`` (or the part itself)?"""
    if canon in plain(segment):
        return True
    left, eq, right = canon.partition("=")
    right = right.rpartition("=")[2]
    return bool(eq) and any(e.startswith(left + "=") and e.endswith("=" + right) for e in equations(segment))


def _has(segment: str, part: KeyPart, explicit: bool, alone: bool = False) -> bool:
    """Does the segment state the part? ``alone``: the key's only part, so the *last* statement of it decides
    (``x=4는 해가 아니고 x=-4이다`` is not 4; ``계수는 5이다. 그러므로 x=7이다`` is not 5)."""
    if part.value is not None:
        if part.var is not None:
            mine = [eq for eq in equations(segment) if eq.rpartition("=")[0].split("=")[0].endswith(part.var)]
            if alone:
                return bool(mine) and numbers(mine[-1].rpartition("=")[2])[-1:] == (part.value,)
            return any(numbers(eq.rpartition("=")[2])[-1:] == (part.value,) for eq in mine)  # x=5 said as x=5
        said = [numbers(eq.rpartition("=")[2])[-1:] for eq in equations(segment)]
        if (said[-1:] == [(part.value,)]) if alone else (part.value,) in said:
            return True
        if explicit:
            return part.value in numbers(segment)
        stated = [s for s in sentences(segment) if numbers(s)]
        if alone:
            return bool(stated) and numbers(stated[-1])[-1:] == (part.value,)
        return any(numbers(s)[-1:] == (part.value,) for s in stated)
    return bool(part.canon) and _chained(segment, part.canon)


def _choice(segment: str, key: str) -> bool | None:
    mark = key.strip()[0]
    n = grading.CIRCLED.index(mark) + 1
    marks = [ch for ch in segment if ch in grading.CIRCLED]
    if marks:
        return marks[-1] == mark
    if re.search(r"(?<![\d.])(\d)\s*번", segment):
        return bool(re.search(rf"(?<![\d.]){n}\s*번", segment))
    option = plain(key.strip()[1:])
    return (len(option) >= 1 and option in plain(segment)) or None


def agrees(text: str, key: str) -> tuple[bool, str]:
    """(does the text's final answer agree with the key, the final answer found)."""
    segment, explicit = final_segment(text)
    if not segment.strip():
        return False, ""
    if explicit and grading.same_answer(segment, key):
        return True, segment
    if key.strip()[:1] in grading.CIRCLED:
        last = segment if explicit else (sentences(segment) or [""])[-1]
        chosen = _choice(last if re.search(r"[①-⑨]|\d\s*번", last) else segment, key)
        if chosen is not None:
            return chosen, segment
    parts = key_parts(key)
    if parts and all(_has(segment, p, explicit, alone=len(parts) == 1) for p in parts):
        return True, segment
    if len(segment) <= 400 and bool(symbolic(key, segment if explicit else sentences(segment)[-1])):
        return True, segment
    return False, segment


_EXPONENT = re.compile(r"\^\s*(\{(?:[^{}]|\{[^{}]*\})*\}|\(?[\w.]+)")
_TOWER = re.compile(r"\^\s*\(?[\w.]+\)?\s*\^")


def _explodes(text: str) -> bool:
    """A power that exact arithmetic cannot finish (``10^{10^{10}}``, ``2^{1000000}``): Python computes a big
    integer power in one uninterruptible step, so such a text is never handed to math-verify."""
    if _TOWER.search(text):
        return True
    return any("^" in e or re.search(r"\d{6,}", e) for e in _EXPONENT.findall(text))


def symbolic(key: str, answer: str) -> bool | None:
    """math-verify's verdict (None when it is not installed, cannot parse either side, or either side holds a
    power too large to compute)."""
    if _explodes(key) or _explodes(answer):
        return None
    try:
        from math_verify import parse, verify  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns on every call that timeouts are off
    try:
        gold = parse(key if "$" in key else f"${key}$", parsing_timeout=None)  # no signals: off the main thread
        given = parse(answer if "$" in answer or "\\boxed" in answer else f"${answer}$", parsing_timeout=None)
        if not gold or not given:
            return None
        return bool(verify(gold, given, timeout_seconds=None))
    except Exception as exc:  # a parser error is "cannot judge", never a failed request
        log.debug("math-verify could not compare: %s", type(exc).__name__)
        return None
