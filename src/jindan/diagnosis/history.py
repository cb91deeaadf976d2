"""What the boosted trees read of a student's history: one row per response, from the earlier responses only.

Besides the logistic model's features: the pattern of the last three tries on the concept, the length and the
mistakes of the current run, answers since the concept was last tried, accuracy over the last 10 and 20
answers, each concept's rate of success over the training students, the student's ability adjusted for
difficulty (answer minus the concept's rate of success, over all earlier answers, the last 10, and the first tries
of new concepts), and the same adjusted results on the concepts whose results go together with this one across
the training students (transfer between related concepts). The concept itself is the first column, a category.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from jindan.diagnosis.features import sequence_features

Arr = npt.NDArray[np.float64]
Logs = Sequence[tuple[Sequence[int], Sequence[int]]]
MAX_CATEGORIES = 254  # scikit-learn's limit for one categorical feature is 255 bins, one of them for "missing"
RATE_PRIOR = (7.0, 10.0)  # a concept's rate of success is shrunk toward 0.7 with the weight of 10 answers
PAIR_SHRINK = 20.0  # a pair's correlation counts fully only with many more than 20 students who tried both
EXTRA = (
    *("log_gap", "accuracy_10", "accuracy_20", "concepts_seen", "answers_so_far"),
    *("last_three", "run_mistakes", "run_length", "tries_on_concept", "concept_rate", "previous_concept_rate"),
    *("ability", "recent_ability", "first_try_ability", "related_ability", "related_weight"),
)


@dataclass
class ConceptStats:
    """Learned from the training students: a category per concept, rates of success, related concepts."""

    codes: dict[int, int]  # concept -> category (the most answered 254 concepts)
    rates: dict[int, float]  # concept -> smoothed rate of success
    related: Arr  # (categories, categories): positive correlation of students' adjusted results, shrunk

    @classmethod
    def learn(cls, logs: Logs) -> ConceptStats:
        counts: dict[int, int] = {}
        right: dict[int, int] = {}
        for cs, ys in logs:
            for c, y in zip(cs, ys, strict=True):
                counts[int(c)] = counts.get(int(c), 0) + 1
                right[int(c)] = right.get(int(c), 0) + int(y)
        top = sorted(sorted(counts, key=lambda c: (-counts[c], c))[:MAX_CATEGORIES])
        codes = {c: i for i, c in enumerate(top)}
        rates = {c: (right[c] + RATE_PRIOR[0]) / (n + RATE_PRIOR[1]) for c, n in counts.items()}
        return cls(codes, rates, _related(logs, codes, rates))

    def to_dict(self) -> dict[str, Any]:
        return {
            "codes": {str(k): v for k, v in self.codes.items()},
            "rates": {str(k): v for k, v in self.rates.items()},
            "related": self.related.round(4).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConceptStats:
        k = len(data["codes"])
        return cls(
            {int(c): int(v) for c, v in data["codes"].items()},
            {int(c): float(v) for c, v in data["rates"].items()},
            np.asarray(data["related"], dtype=np.float64).reshape(k, k),
        )


def _related(logs: Logs, codes: dict[int, int], rates: dict[int, float]) -> Arr:
    """Correlation between concepts of the students' mean adjusted result, over students who tried both."""
    k = len(codes)
    cross, both = np.zeros((k, k)), np.zeros((k, k))
    squares, tried = np.zeros(k), np.zeros(k)
    for cs, ys in logs:
        total: dict[int, list[float]] = {}
        for c, y in zip(cs, ys, strict=True):
            if (i := codes.get(int(c))) is not None:
                total.setdefault(i, []).append(float(y) - rates[int(c)])
        if not total:
            continue
        idx = np.fromiter(total, dtype=np.int64)
        r = np.array([np.mean(total[i]) for i in idx])
        cross[np.ix_(idx, idx)] += np.outer(r, r)
        both[np.ix_(idx, idx)] += 1.0
        squares[idx] += r * r
        tried[idx] += 1.0
    var = squares / np.maximum(tried, 1.0)
    corr = cross / np.maximum(both, 1.0) / np.sqrt(np.outer(var, var) + 1e-9)
    out: Arr = np.clip(corr * both / (both + PAIR_SHRINK), 0.0, None)
    np.fill_diagonal(out, 0.0)
    return out


def _extra(concepts: Sequence[int], correct: Sequence[int], stats: ConceptStats) -> Arr:
    rates, codes, related = stats.rates, stats.codes, stats.related
    last_seen: dict[int, int] = {}
    history: dict[int, list[int]] = {}
    recent: list[int] = []
    rows = np.empty((len(concepts), len(EXTRA)))
    prev, run_len, run_wrong = -1, 0, 0
    adjusted_total, recent_adjusted = 0.0, list[float]()
    first_sum, first_n = 0.0, 0
    by_code, tries = np.zeros(len(codes)), np.zeros(len(codes))
    for t, (c, y) in enumerate(zip(concepts, correct, strict=True)):
        h = history.setdefault(c, [])
        pattern = sum((v + 1) * 3**i for i, v in enumerate(reversed(h[-3:])))
        if c != prev:
            run_len = run_wrong = 0
        r10, r20 = recent[-10:], recent[-20:]
        code = codes.get(c)
        w = related[code] * (tries > 0) if code is not None else np.zeros(len(codes))
        rows[t] = (
            np.log1p(min(t - last_seen.get(c, t - 999), 999)),
            (sum(r10) + 0.5) / (len(r10) + 1),
            (sum(r20) + 0.5) / (len(r20) + 1),
            len(history) - (0 if h else 1),
            t,
            pattern,
            run_wrong,
            run_len,
            len(h),
            rates.get(c, np.nan),
            rates.get(prev, np.nan),
            adjusted_total / (t + 5),
            sum(recent_adjusted) / (len(recent_adjusted) + 3),
            first_sum / (first_n + 3),
            float((w * by_code / np.maximum(tries, 1.0)).sum() / (w.sum() + 0.5)),
            float(w.sum()),
        )
        adjusted = float(y) - rates.get(c, 0.7)
        adjusted_total += adjusted
        recent_adjusted = [*recent_adjusted[-9:], adjusted]
        if not h:
            first_sum, first_n = first_sum + adjusted, first_n + 1
        if code is not None:
            by_code[code] += adjusted
            tries[code] += 1.0
        last_seen[c] = t
        h.append(int(y))
        recent.append(int(y))
        run_len, run_wrong, prev = run_len + 1, run_wrong + (0 if y else 1), c
    return rows


def design(concepts: Sequence[int], correct: Sequence[int], stats: ConceptStats) -> Arr:
    """One row per response: the concept's category (NaN if it has none), the 13 features, then ``EXTRA``."""
    code = np.array([stats.codes.get(int(c), np.nan) for c in concepts], dtype=np.float64)[:, None]
    seq = sequence_features(concepts, correct).astype(np.float64)
    return np.hstack([code, seq, _extra(concepts, correct, stats)])
