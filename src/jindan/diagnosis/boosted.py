"""Gradient-boosted trees over a student's history, blended with the GRU for next-response prediction.

The trees read the student's history as `jindan.diagnosis.history` writes it (the logistic model's features,
more a tree can use and a linear model cannot, ability adjusted for difficulty, transfer between related
concepts), with the concept itself as a category, so every feature can act differently per concept. They are
fitted with scikit-learn's histogram gradient boosting (`jindan diagnosis fit`, when scikit-learn is installed)
and exported as plain arrays, so prediction is numpy only: no pickle is stored and serving needs no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from jindan.diagnosis.averaged import Averaged
from jindan.diagnosis.history import ConceptStats, Logs, design

Arr = npt.NDArray[np.float64]


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
    stats: ConceptStats

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
        return self.logits(design(concepts, correct, self.stats))

    def to_dict(self) -> dict[str, Any]:
        arrays = [name for name in self.__dataclass_fields__ if name not in ("baseline", "stats")]
        out: dict[str, Any] = {name: getattr(self, name).tolist() for name in arrays}
        out["baseline"], out["stats"] = self.baseline, self.stats.to_dict()
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
            stats=ConceptStats.from_dict(data["stats"]),
        )


def export(est: Any, stats: ConceptStats) -> BoostedModel:
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
        stats=stats,
    )


class BoostedSet(Averaged[BoostedModel]):
    """Trees fitted with different seeds (each stops early on a different 10% of the responses). The members
    share the concept statistics, so a student's history is written once for all of them."""

    def logits_sequence(self, concepts: Sequence[int], correct: Sequence[int]) -> Arr:
        x = design(concepts, correct, self.members[0].stats)
        out: Arr = np.mean([m.logits(x) for m in self.members], axis=0)
        return out


def train(logs: Logs, *, seed: int = 0) -> BoostedModel:
    """Fit with scikit-learn (early stopping on 10% of the responses). Raises ImportError without it."""
    return train_set(logs, seeds=(seed,)).members[0]


def train_set(logs: Logs, *, seeds: Sequence[int] = (0, 1, 2)) -> BoostedSet:
    """One model per seed over the same rows. Raises ImportError without scikit-learn."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    stats = ConceptStats.learn(logs)
    rows = [(design(cs, ys, stats), np.asarray(ys, dtype=np.float64)) for cs, ys in logs if len(cs)]
    x, y = np.vstack([r[0] for r in rows]), np.concatenate([r[1] for r in rows])
    categorical = np.zeros(x.shape[1], dtype=bool)
    categorical[0] = True
    members = []
    for seed in seeds:
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
        members.append(export(est, stats))
    return BoostedSet(members)
