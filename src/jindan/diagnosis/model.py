"""The mastery model: a logistic model over readable features with a difficulty per concept.

    P(correct on concept c) = sigmoid(difficulty_c + sum_k weight_k * feature_k)

It is Performance Factors Analysis extended with recency and ability terms: every weight has a sign and a size a
teacher can be told ("a wrong answer on this concept lowers the predicted success by ..."). Fitted by L-BFGS with
an L2 penalty; the concept intercepts' gradient is a bincount, so 500k responses fit in seconds.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from jindan.diagnosis.features import NAMES, sequence_features

if TYPE_CHECKING:
    from jindan.diagnosis.attention import AttentionModel
    from jindan.diagnosis.averaged import Averaged
    from jindan.diagnosis.boosted import BoostedModel
    from jindan.diagnosis.sequence import GruModel

# Features whose effect differs by concept (PFA's per-skill success and failure rates).
PER_CONCEPT = [
    NAMES.index(n)
    for n in (
        "log_successes",
        "log_failures",
        "recent_accuracy",
        "student_accuracy",
        "first_try",
        "run_accuracy",
        "same_as_previous",
    )
]
Logs = Sequence[tuple[Sequence[int], Sequence[int]]]  # per student: (concept indexes, 0/1 outcomes)


def sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


# With the GRU and the trees fitted, the logistic model adds nothing to next-response AUC (chosen on two dev
# folds of ASSISTments 2015, docs/benchmarks.md): the prediction is the learned members' weighted logit (GRU,
# trees and the attention model), and the logistic model stays the explanation a teacher reads.
BLEND_MEMBERS = 1.0
TREES_WEIGHT = 0.6
ATTENTION_WEIGHT = 0.2
ATTENTION_SEEDS = 3
GRU_SEEDS = 5
TREE_SEEDS = 5


@dataclass
class MasteryModel:
    weights: list[float]
    bias: float
    concept_bias: dict[int, float]
    concept_weights: dict[int, list[float]] = field(default_factory=dict)  # per concept, for PER_CONCEPT
    version: str = ""
    feature_names: tuple[str, ...] = NAMES
    fit_info: dict[str, Any] = field(default_factory=dict)
    sequence: dict[str, Any] | None = None  # GRUs' weights (diagnosis/sequence.py), blended in when present
    blend: float = 0.5  # weight of the learned members' logit (GRU, trees, attention) against the logistic one
    boosted: dict[str, Any] | None = None  # gradient-boosted trees (diagnosis/boosted.py), blended in when present
    trees_weight: float = TREES_WEIGHT  # weight of the trees' logit against the GRU's when both are present
    attention: dict[str, Any] | None = None  # the attention model (diagnosis/attention.py), blended in when present
    attention_weight: float = ATTENTION_WEIGHT  # its weight, taken from the GRU's

    @cached_property
    def _gru(self) -> Averaged[GruModel] | None:
        from jindan.diagnosis.averaged import Averaged
        from jindan.diagnosis.sequence import GruModel

        return None if self.sequence is None else Averaged.from_dict(self.sequence, GruModel.from_dict)

    @cached_property
    def _attention(self) -> Averaged[AttentionModel] | None:
        from jindan.diagnosis.attention import AttentionModel
        from jindan.diagnosis.averaged import Averaged

        return None if self.attention is None else Averaged.from_dict(self.attention, AttentionModel.from_dict)

    @cached_property
    def _trees(self) -> Averaged[BoostedModel] | None:
        from jindan.diagnosis.boosted import BoostedModel, BoostedSet

        return None if self.boosted is None else BoostedSet.from_dict(self.boosted, BoostedModel.from_dict)

    def logit(self, features: npt.NDArray[np.float32], concepts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        x = features.astype(np.float64)
        cb = np.array([self.concept_bias.get(int(c), 0.0) for c in concepts], dtype=np.float64)
        zero = [0.0] * len(PER_CONCEPT)
        cw = np.array([self.concept_weights.get(int(c), zero) for c in concepts], dtype=np.float64).reshape(
            -1, len(PER_CONCEPT)
        )
        z: npt.NDArray[np.float64] = (
            x @ np.asarray(self.weights) + self.bias + cb + (x[:, PER_CONCEPT] * cw).sum(axis=1)
        )
        return z

    def predict(self, features: npt.NDArray[np.float32], concepts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return sigmoid(self.logit(features, concepts))

    def predict_sequence(self, concepts: Sequence[int], correct: Sequence[int]) -> npt.NDArray[np.float64]:
        """P(correct) for every response of a student, each from the earlier ones only."""
        learned = self._learned(concepts, correct) if len(concepts) else None
        if learned is not None and self.blend == 1.0:
            return sigmoid(learned)  # the logistic part has no weight: not computed
        z = self._explainable_logit(concepts, correct)
        return sigmoid(z if learned is None else (1 - self.blend) * z + self.blend * learned)

    def predict_explainable(self, concepts: Sequence[int], correct: Sequence[int]) -> npt.NDArray[np.float64]:
        """The logistic model alone: the part whose weights explain a student's mastery."""
        return sigmoid(self._explainable_logit(concepts, correct))

    def _explainable_logit(self, concepts: Sequence[int], correct: Sequence[int]) -> npt.NDArray[np.float64]:
        return self.logit(sequence_features(concepts, correct), np.asarray(concepts, dtype=np.int64))

    def _learned(self, concepts: Sequence[int], correct: Sequence[int]) -> npt.NDArray[np.float64] | None:
        """The learned members' logit (GRU, trees, attention model: the ones fitted, their weights rescaled to
        sum to 1), or None when none is. Without the attention model the GRU takes its weight."""
        attention = self._attention
        a = self.attention_weight if attention is not None else 0.0
        members = [(self._gru, 1 - self.trees_weight - a), (self._trees, self.trees_weight), (attention, a)]
        fitted = [(m, w) for m, w in members if m is not None]
        if not fitted:
            return None
        total = sum(w for _, w in fitted)
        out: npt.NDArray[np.float64] = np.sum([w / total * m.logits_sequence(concepts, correct) for m, w in fitted], 0)
        return out

    def to_json(self) -> str:
        data = asdict(self)
        data["concept_bias"] = {str(k): v for k, v in self.concept_bias.items()}
        data["concept_weights"] = {str(k): v for k, v in self.concept_weights.items()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> MasteryModel:
        data = json.loads(text)
        data["concept_bias"] = {int(k): v for k, v in data["concept_bias"].items()}
        data["concept_weights"] = {int(k): v for k, v in data.get("concept_weights", {}).items()}
        data["feature_names"] = tuple(data["feature_names"])
        return cls(**data)


def design(logs: Logs) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    feats, concepts, labels = [], [], []
    for cs, ys in logs:
        if len(cs):
            feats.append(sequence_features(cs, ys))
            concepts.append(np.asarray(cs, dtype=np.int64))
            labels.append(np.asarray(ys, dtype=np.float64))
    if not feats:
        return np.zeros((0, len(NAMES)), np.float32), np.zeros(0, np.int64), np.zeros(0)
    return np.vstack(feats), np.concatenate(concepts), np.concatenate(labels)


def fit(logs: Logs, *, l2: float = 1.0, version: str | None = None, sequence: bool = True) -> MasteryModel:
    """The logistic model, plus the GRU (with torch) and the boosted trees (with scikit-learn) when ``sequence``."""
    model = fit_logistic(logs, l2=l2, version=version)
    if not sequence:
        return model
    start = time.perf_counter()
    try:
        from jindan.diagnosis.sequence import train_set

        model.sequence = train_set(logs, seeds=GRU_SEEDS).to_dict()
        model.fit_info["sequence"] = {"kind": "gru", "seeds": GRU_SEEDS, "fit_s": round(time.perf_counter() - start, 2)}
        start = time.perf_counter()
        from jindan.diagnosis.attention import train_set as train_attention

        model.attention = train_attention(logs, seeds=ATTENTION_SEEDS).to_dict()
        fit_s = round(time.perf_counter() - start, 2)
        model.fit_info["attention"] = {"kind": "attention", "seeds": ATTENTION_SEEDS, "fit_s": fit_s}
    except ImportError:
        model.fit_info["sequence"] = {"kind": None, "reason": "torch is not installed: no GRU"}
    start = time.perf_counter()
    try:
        from jindan.diagnosis.boosted import train_set as train_trees

        model.boosted = train_trees(logs, seeds=tuple(range(TREE_SEEDS))).to_dict()
        fit_s = round(time.perf_counter() - start, 2)
        model.fit_info["boosted"] = {"kind": "trees", "seeds": TREE_SEEDS, "fit_s": fit_s}
    except ImportError:
        model.fit_info["boosted"] = {"kind": None, "reason": "scikit-learn is not installed: no boosted trees"}
    if model.sequence is not None and model.boosted is not None:
        model.blend = BLEND_MEMBERS
    return model


def fit_logistic(logs: Logs, *, l2: float = 1.0, version: str | None = None) -> MasteryModel:
    start = time.perf_counter()
    X, c, y = design(logs)
    if len(y) == 0:
        raise ValueError("no responses to fit the model on")
    uniq, cidx = np.unique(c, return_inverse=True)
    n, k, m, j = len(y), X.shape[1], len(uniq), len(PER_CONCEPT)
    Xd = X.astype(np.float64)
    Xc = Xd[:, PER_CONCEPT]

    def loss_grad(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w, b, cb = theta[:k], theta[k], theta[k + 1 : k + 1 + m]
        cw = theta[k + 1 + m :].reshape(m, j)
        z = Xd @ w + b + cb[cidx] + (Xc * cw[cidx]).sum(axis=1)
        p = sigmoid(z)
        eps = 1e-9
        loss = float(-np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) / n)
        loss += float(0.5 * l2 * (w @ w + cb @ cb + 10 * np.sum(cw * cw)) / n)
        r = (p - y) / n
        g_cw = np.stack([np.bincount(cidx, weights=r * Xc[:, i], minlength=m) for i in range(j)], axis=1)
        grad = np.concatenate(
            [
                Xd.T @ r + l2 * w / n,
                [r.sum()],
                np.bincount(cidx, weights=r, minlength=m) + l2 * cb / n,
                (g_cw + 10 * l2 * cw / n).ravel(),
            ]
        )
        return float(loss), grad

    res = minimize(loss_grad, np.zeros(k + 1 + m + m * j), jac=True, method="L-BFGS-B", options={"maxiter": 800})
    theta = res.x
    per_concept = theta[k + 1 + m :].reshape(m, j)
    model = MasteryModel(
        weights=[float(v) for v in theta[:k]],
        bias=float(theta[k]),
        concept_bias={int(u): float(v) for u, v in zip(uniq, theta[k + 1 : k + 1 + m], strict=True)},
        concept_weights={int(u): [float(x) for x in row] for u, row in zip(uniq, per_concept, strict=True)},
        version=version or f"pfa-r-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}",
        fit_info={
            "responses": int(n),
            "students": len(logs),
            "concepts": int(m),
            "loss": float(res.fun),
            "iterations": int(res.nit),
            "fit_s": round(time.perf_counter() - start, 2),
            "l2": l2,
        },
    )
    return model


def auc(labels: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties averaged)."""
    from scipy.stats import rankdata

    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
