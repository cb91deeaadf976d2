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


def char_ngrams(text: str, n: int = 2) -> Counter[str]:
    c = canonical(text)
    return Counter(c[i : i + n] for i in range(max(len(c) - n + 1, 0)))


def containment(query: Counter[str], doc: Counter[str]) -> float:
    """Share of the query's n-grams found in the document (1.0: every piece of the query is in it)."""
    total = sum(query.values())
    return sum(min(v, doc[g]) for g, v in query.items()) / total if total else 0.0


_HANGUL = re.compile(r"[\uac00-\ud7a3]+(?:\s+[\uac00-\ud7a3]+)*")
_OTHER = re.compile(r"\\[A-Za-z]+|[A-Za-z]+|[0-9]+(?:\.[0-9]+)?")
_CONTENT_TAGS = ("NNG", "NNP", "NNB", "NR", "VV", "VA", "XR", "SL", "SH", "MAG")
_STOP = {"the", "a", "an", "of", "is", "what", "and", "to", "in", "that", "be", "are", "for", "if", "it", "by"}
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


def terms(text: str) -> list[str]:
    """Sparse terms: Korean content morphemes (stems without particles or endings), LaTeX commands, numbers,
    Latin words; LaTeX fractions count as their parts (``\\frac{5}{4}`` -> ``5``, ``4``)."""
    out: list[str] = []
    spans = list(_HANGUL.finditer(text))
    if spans:
        for tok in _tokenizer().tokenize(" ".join(m.group(0) for m in spans)):
            if tok.tag.startswith(_CONTENT_TAGS):
                out.append(tok.form)
    rest = _HANGUL.sub(" ", text)
    out.extend(t for t in (m.group(0).lower() for m in _OTHER.finditer(rest)) if t not in _STOP)
    return out
