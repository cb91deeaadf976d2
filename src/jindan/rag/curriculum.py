"""The curriculum's own words for each unit: evidence for the subject of a typed problem in a small bank.

A bank of 70 or 100 questions holds a few questions per unit, too few for a model trained on the bank alone to
learn that "최빈값" is statistics or "극댓값" is differentiation. The national curriculum fixes both the units'
names and the vocabulary their problems are written in, so a glossary (``data/curriculum/<language>_math.json``:
units, their other names, and the terms a typed problem about them contains) carries that knowledge to any bank
whose subjects are named after the curriculum's units.

A bank subject is matched to glossary units by name: the unit of the same name or alias, else every unit whose
name contains the subject's or is contained in it ("미분" gathers "미분계수와 도함수" and "도함수의 활용";
"이차부등식" finds "부등식"). A subject no unit matches gets no evidence. :meth:`Curriculum.evidence` counts the
matched units' terms found in a text, each term split between the subjects that share it, so a word typical of
two units tells neither apart.

A bank without subjects has no names to match, so there a text's :func:`unit_profile` (its terms per unit of every
glossary) is compared with each candidate's instead (:func:`unit_agreement`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib.resources import files
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from jindan.text.lexical import canonical, has_hangul

LANGUAGES = ("ko", "en")
# A formula term counts when it names something (sin, log, lim, nPr, f'), or holds a symbol of one kind of problem
# (∫, Σ, √, ∠, ∩, →...); plain algebra (x^2, y=ax+b, <=, a_n) is written in every unit and tells none apart.
_NAMED = re.compile(r"[a-z]{3,}|'|[∫∑σ√∛∜πθ°∠△∩∪∈∉⊂⊄∅→∞≡∽⊥αβγω⇒⇔∘]")
_JOINED = re.compile(r"(?<=[가-힣])[와과]\s+|\s*(?:및|,|·|/|&|\band\b)\s*")
K = TypeVar("K")
MAX_HITS = 3.0  # evidence per subject is capped: a long problem should not outvote the bank's own model


@dataclass(frozen=True)
class Unit:
    name: str
    aliases: tuple[str, ...]
    terms: tuple[str, ...]

    @cached_property
    def names(self) -> frozenset[str]:
        """The unit's name and other names, canonical (no spaces, lower case)."""
        return frozenset(n for n in (canonical(x) for x in (self.name, *self.aliases)) if n)


@lru_cache(maxsize=4)
def glossary(language: str = "ko") -> tuple[Unit, ...]:
    """The packaged glossary of a language's school mathematics (empty for a language without one)."""
    if language not in LANGUAGES:
        return ()
    raw = json.loads((files("jindan") / "data" / "curriculum" / f"{language}_math.json").read_text("utf-8"))
    return tuple(
        Unit(str(u["name"]), tuple(map(str, u.get("aliases", ()))), tuple(map(str, u.get("terms", ()))))
        for u in raw["units"]
    )


def all_units() -> tuple[Unit, ...]:
    """The units of every packaged glossary (a bank's subjects are matched against all of them)."""
    return tuple(u for language in LANGUAGES for u in glossary(language))


def telling(term: str) -> bool:
    """Whether a term can tell units apart: any Korean word, or a formula term that names something."""
    return has_hangul(term) or bool(_NAMED.search(term))


def units_for(subject: str, units: Sequence[Unit]) -> list[Unit]:
    """The glossary units a bank subject stands for: same name or alias, else containment either way."""
    name = canonical(subject)
    if len(name) < 2:
        return []
    found = _named(name, units)
    parts = [canonical(p) for p in _JOINED.split(subject) if p.strip()]
    if len(parts) > 1:  # "경우의 수와 확률", "방정식과 부등식": the unit of that name and each part's
        for part in parts:
            found += [u for u in _named(part, units) or _inside(part, units) if u not in found]
    if found:
        return found
    wider = [u for u in units if any(name in n for n in u.names)]  # "도함수" -> "도함수의 활용", ...
    return wider or _inside(name, units)  # "도함수" is in "도함수의 활용": not the 함수 unit because it holds "함수"


def _named(name: str, units: Sequence[Unit]) -> list[Unit]:
    """The units of that (canonical) name or other name."""
    return [u for u in units if name in u.names]


def _inside(name: str, units: Sequence[Unit]) -> list[Unit]:
    """The units whose name the subject holds, the longest only: "중2 일차함수" is 일차함수, not 함수."""
    inside = {u.name: max((n for n in u.names if len(n) >= 2 and n in name), key=len, default="") for u in units}
    found = {n for n in inside.values() if n}
    longest = {n for n in found if not any(n != f and n in f for f in found)}
    return [u for u in units if inside[u.name] in longest]


@dataclass(frozen=True)
class Curriculum:
    """Per bank subject, its units' terms (canonical), each weighted 1 / the number of subjects sharing it."""

    weights: tuple[dict[str, float], ...]
    shown: dict[str, str]  # canonical term -> as the glossary writes it

    @classmethod
    def for_subjects(cls, subjects: Sequence[str], units: Sequence[Unit] | None = None) -> Curriculum | None:
        """The curriculum of a bank's subjects (the packaged glossaries by default: kept per set of subjects,
        since a service re-reads its topic model every few seconds)."""
        if units is None:
            return _packaged(tuple(subjects))
        shown: dict[str, str] = {}
        found: list[set[str]] = []
        for s in subjects:
            terms = set()
            for x in (x for u in units_for(s, units) for x in (*u.terms, *u.aliases, u.name)):
                if (t := canonical(x)) and telling(t):
                    terms.add(t)
                    shown.setdefault(t, x)
            found.append(terms)
        if not any(found):
            return None
        shared: dict[str, int] = {}
        for terms in found:
            for t in terms:
                shared[t] = shared.get(t, 0) + 1
        return cls(tuple({t: 1.0 / shared[t] for t in terms} for terms in found), shown)

    def clues(self, text: str, subject: int, most: int = 3) -> tuple[str, ...]:
        """The subject's terms found in the text, as the glossary writes them: longest first, none that is part
        of another found (what the console shows as the reason for the topic)."""
        flat = canonical(text)
        hits = sorted((t for t in self.weights[subject] if t in flat), key=lambda t: (-len(t), t))
        kept: list[str] = []
        for t in hits:
            if not any(t in k for k in kept):
                kept.append(t)
        return tuple(self.shown.get(t, t) for t in kept[:most])

    def evidence(self, text: str) -> npt.NDArray[np.float64]:
        """Per subject: its units' terms found in the text (shared terms split), at most ``MAX_HITS``."""
        flat = canonical(text)
        hits = [sum(w for t, w in terms.items() if t in flat) for terms in self.weights]
        return np.minimum(np.array(hits, np.float64), MAX_HITS)


@lru_cache(maxsize=16)
def _packaged(subjects: tuple[str, ...]) -> Curriculum | None:
    return Curriculum.for_subjects(subjects, all_units())


@lru_cache(maxsize=1)
def _unit_terms() -> dict[str, tuple[tuple[str, tuple[int, ...]], ...]]:
    """Every telling term of the packaged glossaries with the units (indices into :func:`all_units`) it is in,
    keyed by the term's first two characters (a text is then read once, not once per term)."""
    found: dict[str, set[int]] = {}
    for j, u in enumerate(all_units()):
        for x in (*u.terms, *u.aliases, u.name):
            if (t := canonical(x)) and telling(t):
                found.setdefault(t, set()).add(j)
    keyed: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for t, js in sorted(found.items()):
        keyed.setdefault(t[:2], []).append((t, tuple(sorted(js))))
    return {k: tuple(v) for k, v in keyed.items()}


@lru_cache(maxsize=20_000)
def unit_profile(text: str) -> npt.NDArray[np.float64]:
    """Per glossary unit (every language's): its terms found in the text, each term split between the units
    that share it, L2-normalised (zeros for a text that holds none). Cached: treat as read-only."""
    flat = canonical(text)
    terms = _unit_terms()
    seen: dict[str, tuple[int, ...]] = {}
    for i in range(len(flat)):
        for key in (flat[i], flat[i : i + 2]):  # a one-character term (∠, △), then the longer ones
            for term, units in terms.get(key, ()):
                if term not in seen and flat.startswith(term, i):
                    seen[term] = units
    out = np.zeros(len(all_units()))
    for units in seen.values():
        out[list(units)] += 1.0 / len(units)
    norm = float(np.linalg.norm(out))
    return out / norm if norm else out


def unit_agreement(text: str, others: Mapping[K, str]) -> dict[K, float]:
    """Per other text: the cosine of its curriculum units with ``text``'s (0 where either names none). A bank
    without subjects knows nothing of its topics, but the glossary tells "remainder" from "triangle"."""
    mine = unit_profile(text)
    if not mine.any():
        return dict.fromkeys(others, 0.0)
    return {k: float(unit_profile(t) @ mine) for k, t in others.items()}
