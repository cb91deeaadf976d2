"""Gradient-boosted trees over a student's history, blended with the GRU for next-response prediction.

The trees see the logistic model's features plus a few more a tree can use and a linear model cannot (the
pattern of the last three tries on the concept, the length and the mistakes of the current run, how many
answers ago the concept was last tried, accuracy over the last 10 and 20 answers), with the concept itself as a
category, so every feature can act differently per concept. They are fitted with scikit-learn's histogram
gradient boosting (`jindan diagnosis fit`, when scikit-learn is installed) and exported as plain arrays, so
prediction is numpy only: no pickle is stored and serving needs no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from jindan.diagnosis.features import sequence_features

Arr = npt.NDArray[np.float64]
MAX_CATEGORIES = 254  # scikit-learn's limit for one categorical feature is 255 bins, one of them for "missing"
EXTRA = (
    *("log_gap", "accuracy_10", "accuracy_20", "concepts_seen", "answers_so_far"),
    *("last_three", "run_mistakes", "run_length", "tries_on_concept", "concept_rate", "previous_concept_rate"),
    *("ability", "recent_ability", "first_try_ability"),
)
RATE_PRIOR = (7.0, 10.0)  # a concept's rate of success is shrunk toward 0.7 with the weight of 10 answers


def _extra(concepts: Sequence[int], correct: Sequence[int], rates: dict[int, float]) -> npt.NDArray[np.float64]:
    last_seen: dict[int, int] = {}
    history: dict[int, list[int]] = {}
    recent: list[int] = []
    rows = np.empty((len(concepts), len(EXTRA)))
    prev, run_len, run_wrong = -1, 0, 0
    resid: list[float] = []
    first_sum, first_n = 0.0, 0
    for t, (c, y) in enumerate(zip(concepts, correct, strict=True)):
        h = history.setdefault(c, [])
        pattern = sum((v + 1) * 3**i for i, v in enumerate(reversed(h[-3:])))
        if c != prev:
            run_len = run_wrong = 0
        r10, r20 = recent[-10:], recent[-20:]
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
            sum(resid) / (len(resid) + 5),
            sum(resid[-10:]) / (len(resid[-10:]) + 3),
            first_sum / (first_n + 3),
        )
        expected = rates.get(c, 0.7)
        resid.append(float(y) - expected)
        if not h:
            first_sum, first_n = first_sum + float(y) - expected, first_n + 1
        last_seen[c] = t
        h.append(int(y))
        recent.append(int(y))
        run_len, run_wrong, prev = run_len + 1, run_wrong + (0 if y else 1), c
    return rows


def design(
    concepts: Sequence[int], correct: Sequence[int], codes: dict[int, int], rates: dict[int, float]
) -> npt.NDArray[np.float64]:
    """One row per response, from the earlier responses only: concept code (NaN if unknown), then the features."""
    code = np.array([codes.get(int(c), np.nan) for c in concepts], dtype=np.float64)[:, None]
    seq = sequence_features(concepts, correct).astype(np.float64)
    return np.hstack([code, seq, _extra(concepts, correct, rates)])


@dataclass
class BoostedModel:
    """All trees' nodes in flat arrays (children indices are global); bitsets for the concept splits."""

    baseline: float
    roots: npt.NDArray[np.int64]
    feature: npt.NDArray[np.int64]
    threshold: Arr
    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    leaf: npt.NDArray[np.bool_]
    value: Arr
    missing_left: npt.NDArray[np.bool_]
    categorical: npt.NDArray[np.bool_]
    bitset: npt.NDArray[np.int64]
    bitsets: npt.NDArray[np.uint32]
    codes: dict[int, int]
    rates: dict[int, float]

    def logits(self, x: Arr) -> Arr:
        """Raw scores (logits) for the rows of ``design``."""
        n, trees = x.shape[0], len(self.roots)
        node = np.broadcast_to(self.roots, (n, trees)).copy()
        rows = np.arange(n)[:, None]
        while True:
            active = ~self.leaf[node]
            if not active.any():
                break
            val = x[rows, self.feature[node]]
            nan = np.isnan(val)
            cat = self.categorical[node]
            k = np.where(nan | ~cat, 0, val).astype(np.int64)
            in_left = (self.bitsets[self.bitset[node], k // 32] >> (k % 32).astype(np.uint32)) & 1
            go_left = np.where(nan, self.missing_left[node], np.where(cat, in_left == 1, val <= self.threshold[node]))
            node = np.where(active, np.where(go_left, self.left[node], self.right[node]), node)
        out: Arr = self.baseline + self.value[node].sum(axis=1)
        return out

    def logits_sequence(self, concepts: Sequence[int], correct: Sequence[int]) -> Arr:
        return self.logits(design(concepts, correct, self.codes, self.rates))

    def to_dict(self) -> dict[str, Any]:
        arrays = [name for name in self.__dataclass_fields__ if name not in ("baseline", "codes", "rates")]
        out: dict[str, Any] = {name: getattr(self, name).tolist() for name in arrays}
        out["baseline"], out["codes"] = self.baseline, {str(k): v for k, v in self.codes.items()}
        out["rates"] = {str(k): v for k, v in self.rates.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoostedModel:
        def ints(name: str) -> npt.NDArray[np.int64]:
            return np.asarray(data[name], dtype=np.int64)

        def flags(name: str) -> npt.NDArray[np.bool_]:
            return np.asarray(data[name], dtype=np.bool_)

        return cls(
            baseline=float(data["baseline"]),
            roots=ints("roots"),
            feature=ints("feature"),
            threshold=np.asarray(data["threshold"], dtype=np.float64),
            left=ints("left"),
            right=ints("right"),
            leaf=flags("leaf"),
            value=np.asarray(data["value"], dtype=np.float64),
            missing_left=flags("missing_left"),
            categorical=flags("categorical"),
            bitset=ints("bitset"),
            bitsets=np.asarray(data["bitsets"], dtype=np.uint32).reshape(-1, 8),
            codes={int(k): int(v) for k, v in data["codes"].items()},
            rates={int(k): float(v) for k, v in data["rates"].items()},
        )


def concept_codes(logs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> tuple[dict[int, int], dict[int, float]]:
    """The most answered concepts get a category each (at most 254; the rest count as unknown), and every
    concept its smoothed rate of success."""
    counts: dict[int, int] = {}
    right: dict[int, int] = {}
    for cs, ys in logs:
        for c, y in zip(cs, ys, strict=True):
            counts[int(c)] = counts.get(int(c), 0) + 1
            right[int(c)] = right.get(int(c), 0) + int(y)
    top = sorted(counts, key=lambda c: (-counts[c], c))[:MAX_CATEGORIES]
    rates = {c: (right[c] + RATE_PRIOR[0]) / (n + RATE_PRIOR[1]) for c, n in counts.items()}
    return {c: i for i, c in enumerate(sorted(top))}, rates


def export(est: Any, codes: dict[int, int], rates: dict[int, float]) -> BoostedModel:
    """Flatten a fitted HistGradientBoostingClassifier (binary) into a ``BoostedModel``."""
    parts, bits, roots, offset, bit_offset = [], [], [], 0, 1
    for (pred,) in est._predictors:
        nodes = pred.nodes
        roots.append(offset)
        parts.append((nodes, offset, bit_offset))
        bits.append(np.asarray(pred.raw_left_cat_bitsets, dtype=np.uint32).reshape(-1, 8))
        offset += len(nodes)
        bit_offset += len(bits[-1])
    cat = np.concatenate([p[0]["is_categorical"] for p in parts]).astype(bool)
    return BoostedModel(
        baseline=float(np.ravel(est._baseline_prediction)[0]),
        roots=np.asarray(roots, dtype=np.int64),
        feature=np.concatenate([p[0]["feature_idx"] for p in parts]).astype(np.int64),
        threshold=np.concatenate([p[0]["num_threshold"] for p in parts]).astype(np.float64),
        left=np.concatenate([p[0]["left"].astype(np.int64) + p[1] for p in parts]),
        right=np.concatenate([p[0]["right"].astype(np.int64) + p[1] for p in parts]),
        leaf=np.concatenate([p[0]["is_leaf"] for p in parts]).astype(bool),
        value=np.concatenate([p[0]["value"] for p in parts]).astype(np.float64),
        missing_left=np.concatenate([p[0]["missing_go_to_left"] for p in parts]).astype(bool),
        categorical=cat,
        bitset=np.where(cat, np.concatenate([p[0]["bitset_idx"].astype(np.int64) + p[2] for p in parts]), 0),
        bitsets=np.vstack([np.zeros((1, 8), np.uint32), *bits]),
        codes=codes,
        rates=rates,
    )


def train(logs: Sequence[tuple[Sequence[int], Sequence[int]]], *, seed: int = 0) -> BoostedModel:
    """Fit with scikit-learn (early stopping on 10% of the responses). Raises ImportError without it."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    codes, rates = concept_codes(logs)
    rows = [(design(cs, ys, codes, rates), np.asarray(ys, dtype=np.float64)) for cs, ys in logs if len(cs)]
    x, y = np.vstack([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
    categorical = np.zeros(x.shape[1], dtype=bool)
    categorical[0] = True
    est = HistGradientBoostingClassifier(
        max_iter=400,
        learning_rate=0.08,
        max_leaf_nodes=63,
        l2_regularization=1.0,
        categorical_features=categorical,
        early_stopping=len(y) > 10_000,
        random_state=seed,
    )
    est.fit(x, y)
    return export(est, codes, rates)
