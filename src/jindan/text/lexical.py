"""Lexical features for ranking: LaTeX-aware normal form, character n-grams, Korean morphemes.

A student types ``-5/4`` where the textbook writes ``$-\\frac{5}{4}$``, ``(-3)x(+4)`` for ``(-3)\\times(+4)``, and
Korean particles glue onto stems (``방정식의``, ``방정식을``). :func:`canonical` maps the common LaTeX forms
onto what a keyboard gives, so character n-grams of a pasted or retyped question meet the bank's text;
:func:`terms` gives the sparse vocabulary (Korean morphemes from kiwipiepy, LaTeX commands, numbers and
Latin words), the same for Korean and English.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from functools import lru_cache
from itertools import pairwise
from typing import Any

_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")
_SYMBOLS = {
    r"\times": "×",
    r"\cdot": "×",
    r"\div": "÷",
    r"\leq": "≤",
    r"\le": "≤",
    r"\geq": "≥",
    r"\ge": "≥",
    r"\neq": "≠",
    r"\ne": "≠",
    r"\pi": "π",
    r"\pm": "±",
    r"\circ": "°",
    r"\angle": "∠",
    r"\triangle": "△",
}
_NAMES = "|".join(re.escape(k[1:]) for k in sorted(_SYMBOLS, key=len, reverse=True))
_COMMAND = re.compile(r"\\(" + _NAMES + r")(?![A-Za-z])")
_DROP = re.compile(r"\\(left|right|displaystyle|text|mathrm|quad|qquad|,|;|!|\s)|[${}\s]")
_TYPED_TIMES = re.compile(r"(?<=[0-9)])[x*](?=[0-9(+\-])")
_LATIN_PAIR = re.compile(r"^[a-z]{2}$")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[a-z]{2,}")
_TOKEN = re.compile(r"\\?[A-Za-z]+|[0-9]+|[\uac00-\ud7a3]+|[^\sA-Za-z0-9\uac00-\ud7a3]")


def canonical(text: str) -> str:
    """Lower-case, LaTeX fractions/roots/symbols as typed (``5/4``, ``√2``, ``×``), no spaces or braces."""
    t = text
    for _ in range(3):  # nested fractions, innermost first
        t = _FRAC.sub(r"\1/\2", t)
    t = _SQRT.sub(r"√\1", t)
    t = _COMMAND.sub(lambda m: _SYMBOLS["\\" + m.group(1)], t)
    t = _DROP.sub("", t)
    t = t.replace("*", "×").replace("−", "-").replace("，", ",")
    return _TYPED_TIMES.sub("×", t.lower())


@lru_cache(maxsize=20_000)  # candidates repeat from query to query: a bank's texts are read once
def char_ngrams(text: str, n: int = 2) -> Counter[str]:
    """Character n-grams of the canonical form (cached: treat as read-only), except pairs of Latin letters (any
    English text holds most of them), which count as whole words instead (stopwords left out)."""
    c = canonical(text)
    grams = Counter(g for g in (c[i : i + n] for i in range(max(len(c) - n + 1, 0))) if not _LATIN_PAIR.match(g))
    words = _WORD.findall(_LATEX_COMMAND.sub(" ", text).lower())
    grams.update(f"w:{w}" for w in words if w not in _STOP)
    return grams


def has_hangul(text: str) -> bool:
    """Whether the text holds a Korean syllable."""
    return _HANGUL.search(text) is not None


def token_pairs(text: str) -> Counter[str]:
    """Neighbouring tokens as written (words, LaTeX commands, numbers, Hangul runs, each symbol): ``x ^``,
    ``\\frac {``, ``how many``. The way a problem is written down tells its subject apart where single words
    do not (Algebra and Intermediate Algebra share their words, not their notation)."""
    found = _TOKEN.findall(text.lower())
    return Counter(f"p:{a} {b}" for a, b in pairwise(found))


def containment(query: Counter[str], doc: Counter[str]) -> float:
    """Share of the query's n-grams found in the document (1.0: every piece of the query is in it)."""
    total = sum(query.values())
    return sum(min(v, doc[g]) for g, v in query.items()) / total if total else 0.0


_HANGUL = re.compile(r"[\uac00-\ud7a3]+(?:\s+[\uac00-\ud7a3]+)*")
_MATH = re.compile(r"\$[^$]*\$|[^\s\uac00-\ud7a3.,?!]+")
_OTHER = re.compile(r"\\[A-Za-z]+|[A-Za-z]+|[0-9]+(?:\.[0-9]+)?")
_CONTENT_TAGS = ("NNG", "NNP", "NNB", "NR", "VV", "VA", "XR", "MAG")
_STOP = frozenset(
    (
        "a",
        "an",
        "the",
        "of",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "when",
        "where",
        "why",
        "and",
        "or",
        "to",
        "in",
        "on",
        "at",
        "that",
        "this",
        "these",
        "those",
        "for",
        "from",
        "if",
        "it",
        "its",
        "by",
        "with",
        "as",
        "do",
        "does",
        "did",
        "can",
        "will",
        "would",
        "there",
        "their",
        "they",
        "we",
        "you",
        "your",
        "not",
        "no",
    )
)
_kiwi: Any = None
_kiwi_lock = threading.Lock()


def _tokenizer() -> Any:
    global _kiwi
    with _kiwi_lock:
        if _kiwi is None:
            try:
                from kiwipiepy import Kiwi
            except ImportError as exc:  # a dependency of jindan: only a broken install lands here
                raise RuntimeError("kiwipiepy is not installed: pip install kiwipiepy") from exc
            _kiwi = Kiwi()
        return _kiwi


@lru_cache(maxsize=20_000)
def terms(text: str) -> tuple[str, ...]:
    """Sparse terms: Korean content morphemes (stems without particles or endings), LaTeX commands, numbers,
    Latin words; LaTeX fractions count as their parts (``\\frac{5}{4}`` -> ``5``, ``4``)."""
    out: list[str] = []
    if _HANGUL.search(text):  # formulas become one Latin letter, so a particle after one still reads as one
        plain = _MATH.sub("A", text)
        out.extend(
            tok.form
            for tok in _tokenizer().tokenize(plain)
            if tok.tag.startswith(_CONTENT_TAGS) and _HANGUL.search(tok.form)
        )
    rest = _HANGUL.sub(" ", text)
    out.extend(t for t in (m.group(0).lower() for m in _OTHER.finditer(rest)) if t not in _STOP)
    return tuple(out)
