"""Scoring one answer against the bank: final answer (math), language, JSON validity, a leaked hint.

Math answers are compared after extraction and normalisation: the last ``\\boxed{...}`` (nested braces kept),
else an explicit "answer is ..." / "정답은 ..." phrase, else the last number; then LaTeX spacing, ``$``,
``\\left``/``\\right``, ``\\text{...}`` units, degree signs and thousands separators are removed, ``\\dfrac`` and
``\\frac{a}{b}`` become ``a/b``, and numbers compare by value (``0.5`` = ``1/2`` = ``\\frac{2}{4}``).
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

ANSWER_PHRASE = re.compile(
    r"(?:final answer|the answer|answer|정답|답)\s*(?:is|은|는|:|=)\s*:?\s*(.+?)(?:[.。](?!\d)|\n|$)", re.IGNORECASE
)
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?")


def boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    open_at = text.find("{", start)
    if open_at < 0:
        return None
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    return None


def final_answer(text: str) -> str | None:
    """The answer a text commits to: boxed, else an answer phrase, else its last number."""
    found = boxed(text)
    if found is not None:
        return found
    phrases = ANSWER_PHRASE.findall(text)
    if phrases:
        return str(phrases[-1]).strip()
    candidates = [*NUMBER.finditer(text), *re.finditer(f"[{CIRCLED}]", text)]
    return max(candidates, key=lambda m: m.start()).group() if candidates else None


def _frac(m: re.Match[str]) -> str:
    return f"({m.group(1)})/({m.group(2)})"


def normalise(answer: str) -> str:
    s = answer.strip()
    s = re.sub(r"\\text\{\s*[a-zA-Z ]*\}", "", s)  # units: \text{ cm}
    s = re.sub(r"\\(?:mbox|mathrm|textbf)\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    for _ in range(3):  # nested fractions, innermost first
        s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", _frac, s)
    s = re.sub(r"\\frac(\d)(\d)", r"\1/\2", s)  # \frac12
    s = re.sub(r"\\left|\\right|\\!|\\,|\\;|\\ |\\?\$", "", s)
    s = re.sub(r"\^\{?\\circ\}?|°|\\%|%", "", s)
    s = s.replace(" ", "").rstrip(".")
    s = re.sub(r"[\uac00-\ud7a3]+$", "", s)  # 36입니다 -> 36
    s = re.sub(r"^[a-zA-Z]\s*=", "", s)  # x=3 -> 3
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # 1,000 -> 1000
    s = re.sub(r"\((-?[\d.]+)\)/\((-?[\d.]+)\)", r"\1/\2", s)
    return s


def _value(s: str) -> Fraction | None:
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


CIRCLED = "①②③④⑤⑥⑦⑧⑨"


def alternatives(key: str) -> list[str]:
    """A multiple-choice key ``④ $-\\frac{5}{4}$`` is answered by ④, 4, (4) or the option itself."""
    key = key.strip()
    if key and key[0] in CIRCLED:
        n = str(CIRCLED.index(key[0]) + 1)
        return [key[0], n, f"({n})", key[1:].strip()] if key[1:].strip() else [key[0], n, f"({n})"]
    return [key]


def same_answer(given: str | None, key: str) -> bool:
    if given is None:
        return False
    a = normalise(given)
    for alt in alternatives(key):
        b = normalise(alt)
        if a == b:
            return True
        va, vb = _value(a), _value(b)
        if va is not None and va == vb:
            return True
    return False


def correct(text: str, key: str | None) -> bool | None:
    """Does the text's final answer equal the answer key? None when the bank has no key."""
    if not key:
        return None
    return same_answer(final_answer(text), key)


def leaked(hint: str, key: str | None) -> bool | None:
    """Did a hint give the answer away: it commits to the key, or states a non-trivial key verbatim."""
    if not key:
        return None
    if boxed(hint) is not None and same_answer(boxed(hint), key):
        return True
    phrases = ANSWER_PHRASE.findall(hint)
    if phrases and same_answer(str(phrases[-1]), key):
        return True
    text = normalise(hint)
    # "2" or "10" appear in any maths text: only a committed answer counts for short keys
    return any(len(k) >= 3 and k in text for k in map(normalise, alternatives(key)))


def hangul_share(text: str) -> float:
    """Hangul syllables among all letters (Hangul + Latin); 0 for a text without letters."""
    hangul = sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return hangul / (hangul + latin) if hangul + latin else 0.0


def in_language(text: str, language: str) -> bool:
    """Is the text mostly in the requested language (Korean: Hangul share >= 0.5 of letters, maths aside)."""
    prose = re.sub(r"\$[^$]*\$|\\\[.*?\\\]|\\\(.*?\\\)", " ", text, flags=re.DOTALL)  # formulas are no language
    share = hangul_share(prose)
    if language == "ko":
        return share >= 0.5
    return share < 0.5 and any(ch.isalpha() for ch in prose)


def json_object(text: str) -> dict[str, object] | None:
    """The JSON object an answer holds (a ```json fence or surrounding prose tolerated), or None."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
