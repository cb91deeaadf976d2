"""Reading an answer's text: formulas apart from prose, sentences, numbers and equations by value.

Formulas are ``$...$``, ``$$...$$``, ``\\(...\\)`` and ``\\[...\\]``; a number is compared by value whatever its
form (``\\frac{5}{4}``, ``5/4``, ``1.25``); an equation is ``left=right`` in a canonical form (``x+y=7`` whether
typed, in LaTeX or with spaces).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from jindan.answers.grading import hangul_share

MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\[.*?\\\]|\\\(.*?\\\)", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+|\x01\s*|\n\s*\n")
_FIGURE = re.compile(r"\[asy\].*?\[/asy\]", re.DOTALL)  # drawing code (MATH's Asymptote figures)
_NUMBER = re.compile(r"(?<![A-Za-z0-9_^/])(?<!\d\.)-?\d+(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?(?![A-Za-z0-9_]|\.\d)")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_LETTER = re.compile(r"[A-Za-z\uac00-\ud7a3]")
_ENDS = ".!?。…"


def prose(text: str) -> str:
    """The text with its formulas blanked (what a language is judged on)."""
    return MATH.sub(" ", text)


def tokens(text: str) -> list[str]:
    """The text's words, each formula one token (its canonical form), figures left out (what loops are judged
    on: a formula repeated is the same formula, not its pieces)."""
    text = _FIGURE.sub(" ", text)
    out: list[str] = []
    last = 0
    for m in MATH.finditer(text):
        out += text[last : m.start()].split()
        out.append("$" + plain(m.group()) + "$")
        last = m.end()
    return out + text[last:].split()


def letters(text: str) -> int:
    return len(_LETTER.findall(text))


def language_of(text: str, default: str = "en") -> str:
    """``ko`` when Hangul is at least a third of the prose's letters, ``en`` for other Latin prose, else
    ``default`` (a text of formulas only says nothing about its language)."""
    p = prose(text)
    if letters(p) < 2:
        return default
    return "ko" if hangul_share(p) >= 0.3 else "en"


def _shield(text: str) -> tuple[str, list[str]]:
    """Formulas replaced by placeholders; one that ends a sentence inside itself (``\\[x=2.\\]``) is
    followed by an end mark, so sentences can split there too."""
    spans: list[str] = []
    text = text.replace("\x00", " ").replace("\x01", " ")  # the markers' characters, never a text's (same length)

    def keep(m: re.Match[str]) -> str:
        spans.append(m.group(0))
        ends = re.search(r"[.!?]\s*(?:\$\$|\\\]|\$|\\\))$", m.group(0)) is not None
        return f"\x00{len(spans) - 1}\x00" + ("\x01" if ends else "")

    return MATH.sub(keep, text), spans


def _unshield(text: str, spans: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text).replace("\x01", "")


def sentences(text: str) -> list[str]:
    """Sentences of a text, never split inside a formula (``$1.5$``) or a decimal; figures' code left out."""
    shielded, spans = _shield(_FIGURE.sub(" ", text))
    return [_unshield(s, spans).strip() for s in _SENTENCE_END.split(shielded) if s.strip()]


def sentence_end(text: str) -> int:
    """Length of the text's complete sentences (0 when no sentence has ended yet): what may be released."""
    shielded, spans = _shield(text)
    last = -1
    for m in _SENTENCE_END.finditer(shielded):
        last = m.start()
    if last < 0:
        return 0
    return len(_unshield(shielded[:last], spans))


def ends_a_sentence(text: str) -> bool:
    """Does the text end where a sentence (or a formula block, or a Korean sentence ending) ends?"""
    t = text.rstrip()
    if not t:
        return False
    if t[-1] in _ENDS or t.endswith(("$$", "\\]")):
        return True
    return bool(re.search(r"(다|요|죠|까|오)\s*$", t))  # Korean endings written without a full stop


_LAYOUT = re.compile(r"\\(?:begin|end)\{[a-zA-Z*]+\}|\\\\|&")
_SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")
_SYMBOLS = {
    "times": "×",
    "cdot": "×",
    "div": "÷",
    "leq": "≤",
    "le": "≤",
    "geq": "≥",
    "ge": "≥",
    "neq": "≠",
    "ne": "≠",
    "pi": "π",
    "pm": "±",
    "circ": "°",
    "angle": "∠",
    "triangle": "△",
    "infty": "∞",
}
_COMMAND = re.compile(r"\\(" + "|".join(sorted(_SYMBOLS, key=len, reverse=True)) + r")(?![A-Za-z])")
_DROP = re.compile(r"\\(?:left|right|displaystyle|boxed|fbox|text|mathrm|operatorname|quad|qquad|[,;:!]|\s)|[${}\s]")
_RUN = re.compile(r"[A-Za-z0-9_^+\-×÷/=.()√π<>≤≥≠'|°%]+")


def _grouped(part: str) -> str:
    """A fraction's or a root's part, in brackets when it is a sum (``\\frac{x+1}{2}`` -> ``(x+1)/2``)."""
    p = part.strip()
    return f"({p})" if re.search(r"[+\-]|\\pm", p.lstrip("-")) else p


@lru_cache(maxsize=4096)
def plain(text: str) -> str:
    """Canonical form of a text for comparing what it says: LaTeX as typed (``\\frac{5}{4}`` -> ``5/4``,
    ``\\times`` -> ``×``, no layout such as ``cases``), no spaces, lower-case."""
    t = _LAYOUT.sub(",", text)
    for _ in range(3):  # nested roots and fractions, innermost first
        t = _SQRT.sub(lambda m: "√" + _grouped(m.group(1)), t)
        t = _FRAC.sub(lambda m: f"{_grouped(m.group(1))}/{_grouped(m.group(2))}", t)
    t = _COMMAND.sub(lambda m: _SYMBOLS[m.group(1)], t)
    t = _DROP.sub("", t).replace("−", "-").replace("*", "×")
    t = re.sub(r"\\(?=[a-zA-Z])", "", t)  # \log, \cos: the name as typed
    return t.lower().strip(",")


@lru_cache(maxsize=4096)
def formulas_of(text: str) -> tuple[str, ...]:
    """The text's formulas in canonical form, those of 3 characters or more (``-3,-2,-1,0,1,2,3``)."""
    return tuple(f for f in (plain(m.group(0)) for m in MATH.finditer(text)) if len(f) >= 3)


def value(token: str) -> Fraction | None:
    try:
        return Fraction(token.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


@lru_cache(maxsize=4096)
def numbers(text: str) -> tuple[Fraction, ...]:
    """Every number of a text by value, fractions and decimals included (``\\frac{5}{4}`` and ``1.25`` alike)."""
    t = text.replace("−", "-").replace("\\left", "").replace("\\right", "")
    for _ in range(3):
        t = _FRAC.sub(r"\1/\2", t)
    t = re.sub(r"[${}]|\\[,;!]", " ", t)
    found = []
    for m in _NUMBER.finditer(t):
        v = value(m.group(0))
        if v is not None:
            found.append(v)
    return tuple(found)


_OPERATOR = re.compile(r"(?:[×÷*·]|\\times|\\div|\\cdot)\s*$")
_OPERATED = re.compile(r"^\s*(?:[×÷*·]|\\times|\\div|\\cdot)")


@lru_cache(maxsize=4096)
def stated(text: str) -> tuple[Fraction, ...]:
    """The numbers a text states as values: ``numbers`` less the operands of a product or a quotient
    (``300\\times\\frac{8}{100}`` states 24 when it ends ``=24``, not 100)."""
    t = text.replace("−", "-")
    for _ in range(3):
        t = _FRAC.sub(r"\1/\2", t)
    t = re.sub(r"[${}]|\\[,;!]|\\left|\\right", " ", t)
    found = []
    for m in _NUMBER.finditer(t):
        if _OPERATOR.search(t[: m.start()]) or _OPERATED.match(t[m.end() :]):
            continue
        v = value(m.group(0))
        if v is not None:
            found.append(v)
    return tuple(found)


@lru_cache(maxsize=4096)
def equations(text: str) -> tuple[str, ...]:
    """Equations of a text in canonical form (``x+y=7``; a chain ``y=9-7=2`` whole), each with a digit.
    Formulas are read whole; in prose, words stay apart and only spaces around an operator go."""
    spaced = MATH.sub(lambda m: f" {plain(m.group(0))} ", _LAYOUT.sub(" , ", text))
    spaced = re.sub(r"\s*([=+\-×÷/<>≤≥*^])\s*", r"\1", spaced.replace("−", "-")).lower()
    runs = (m.group(0).strip(".") for m in _RUN.finditer(spaced))
    return tuple(r for r in runs if "=" in r.strip("=") and any(ch.isdigit() for ch in r))


@lru_cache(maxsize=4096)
def ngrams(text: str, n: int = 5) -> frozenset[str]:
    c = plain(text)
    return frozenset(c[i : i + n] for i in range(max(len(c) - n + 1, 0)))


def copied(text: str, source: str, n: int = 5) -> float:
    """Share of the text's character n-grams (canonical form) that the source holds: 1.0 is a verbatim copy."""
    grams = ngrams(text, n)
    if not grams:
        return 0.0
    return len(grams & ngrams(source, n)) / len(grams)
