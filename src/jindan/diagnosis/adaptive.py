"""Adaptive diagnosis: a Gaussian belief over a student's concept logits, updated one answer at a time, and the
question that should shrink that belief the most.

Conventions, stated once:

- ``theta[k]`` is the student's logit of success on a question of middle difficulty of target ``k`` (a concept in
  the service, a (concept, try) item in the replay benchmark). The belief is ``N(mean, cov)``; the prior
  covariance couples the targets (a shared ability plus a part of each target's own), so one answer informs
  every target, most of all its own.
- A question observes ``t = e . theta`` (``e``: the question's weights over the targets, e.g. 1/2 on each of two
  concepts) through ``P(correct) = sigmoid(t - offset)``, ``offset`` being how much harder the question is than
  its concepts' middle question (0 when unknown).
- An answer updates the belief by a Laplace step on ``t`` (the posterior mode and curvature of the one-dimensional
  marginal) carried to every target by Gaussian regression: assumed-density filtering, exact for the Gaussian
  part and cheap (``O(K^2)``) for a unit's few dozen targets.
- Mastery is ``E[sigmoid(theta)]`` (probit approximation); its 90% interval is ``sigmoid(mean +- 1.645 sd)`` and
  the confidence is one minus the interval's width, as in :mod:`jindan.diagnosis.engine`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[np.float64]
Z90 = 1.6448536269514722
ABILITY_VAR = 1.0  # variance of the ability every concept of a session shares (logit scale)
CONCEPT_VAR = 0.6  # variance of each concept's own part
PREREQ_DEFER = 0.5  # a question whose concepts wait on unsettled prerequisites counts half


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 30.0), -30.0)))


def expected_success(mean: float, var: float) -> float:
    """E[sigmoid(t)] for t ~ N(mean, var) (MacKay's probit approximation)."""
    return sigmoid(mean / math.sqrt(1.0 + math.pi * var / 8.0))


@dataclass(frozen=True)
class Item:
    """A question the session may ask: ``weights`` over target indexes, its difficulty ``offset``."""

    key: int
    weights: tuple[tuple[int, float], ...]
    offset: float = 0.0


@dataclass(frozen=True)
class Estimate:
    mastery: float
    low: float
    high: float
    confidence: float


class Belief:
    """``N(mean, cov)`` over the targets' logits; JSON-safe through :meth:`to_dict`."""

    def __init__(self, mean: Sequence[float] | Arr, cov: Sequence[Sequence[float]] | Arr) -> None:
        self.mean: Arr = np.asarray(mean, dtype=np.float64).copy()
        self.cov: Arr = np.asarray(cov, dtype=np.float64).copy()
        if self.cov.shape != (len(self.mean), len(self.mean)):
            raise ValueError(f"covariance of shape {self.cov.shape} for {len(self.mean)} targets")

    @classmethod
    def prior(
        cls, means: Sequence[float], ability_var: float = ABILITY_VAR, concept_var: float = CONCEPT_VAR
    ) -> Belief:
        k = len(means)
        return cls(means, np.full((k, k), ability_var) + concept_var * np.eye(k))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.round(6).tolist(), "cov": self.cov.round(8).tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Belief:
        return cls(data["mean"], data["cov"])

    def _e(self, item: Item) -> Arr:
        e = np.zeros(len(self.mean))
        for k, w in item.weights:
            e[k] += w
        return e

    def predict(self, item: Item) -> float:
        """P(correct) on ``item`` under the current belief."""
        e = self._e(item)
        return expected_success(float(e @ self.mean) - item.offset, float(e @ self.cov @ e))

    def update(self, item: Item, correct: bool) -> None:
        e = self._e(item)
        ce = self.cov @ e
        s2 = float(e @ ce)
        m = float(e @ self.mean)
        if s2 <= 1e-12:
            return
        y = 1.0 if correct else 0.0
        t = m
        for _ in range(20):  # Newton on log N(t; m, s2) + log sigmoid(+-(t - offset)), concave
            p = sigmoid(t - item.offset)
            grad = (y - p) - (t - m) / s2
            hess = -p * (1 - p) - 1 / s2
            step = grad / hess
            t -= step
            if abs(step) < 1e-9:
                break
        p = sigmoid(t - item.offset)
        v = 1.0 / (1.0 / s2 + p * (1 - p))
        gain = ce / s2
        self.mean = self.mean + gain * (t - m)
        self.cov = self.cov + np.outer(gain, gain) * (v - s2)
        self.cov = (self.cov + self.cov.T) / 2

    def gain(self, item: Item, weights: Arr | None = None) -> float:
        """Expected drop of the (weighted) total variance of the targets if ``item`` is answered."""
        e = self._e(item)
        ce = self.cov @ e
        s2 = float(e @ ce)
        if s2 <= 1e-12:
            return 0.0
        p = expected_success(float(e @ self.mean) - item.offset, s2)
        v = 1.0 / (1.0 / s2 + p * (1 - p))
        spread = ce * ce if weights is None else weights * ce * ce
        return float(spread.sum() / (s2 * s2) * (s2 - v))

    def gains(self, targets: Sequence[int], weights: Arr | None = None) -> Arr:
        """:meth:`gain` of a question on each single target at once (offset 0): the replay benchmark's case."""
        idx = np.asarray(targets, dtype=np.int64)
        cols = self.cov[:, idx]
        s2 = np.maximum(np.diag(self.cov)[idx], 1e-12)
        z = self.mean[idx] / np.sqrt(1.0 + np.pi * s2 / 8.0)
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        v = 1.0 / (1.0 / s2 + p * (1 - p))
        spread = (cols * cols if weights is None else weights[:, None] * cols * cols).sum(axis=0)
        out: Arr = spread / (s2 * s2) * (s2 - v)
        return out

    def success(self) -> Arr:
        """P(correct) on a middle question of every target."""
        z = self.mean / np.sqrt(1 + np.pi * np.maximum(np.diag(self.cov), 0.0) / 8)
        out: Arr = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        return out

    def spread(self) -> Arr:
        """The standard deviation ``sqrt(p (1 - p))`` of every target's answer: the weights of :func:`choose` (and
        of the replay benchmark's adaptive policy) for the targets still to be known."""
        p = self.success()
        out: Arr = np.sqrt(p * (1 - p))
        return out

    def estimate(self, k: int) -> Estimate:
        m, v = float(self.mean[k]), max(float(self.cov[k, k]), 0.0)
        sd = math.sqrt(v)
        low, high = sigmoid(m - Z90 * sd), sigmoid(m + Z90 * sd)
        return Estimate(expected_success(m, v), low, high, 1.0 - (high - low))


def choose(
    belief: Belief,
    candidates: Sequence[Item],
    *,
    weights: Arr | None = None,
    waiting: set[int] | None = None,
) -> Item | None:
    """The candidate with the largest expected variance drop; ``waiting``: targets whose prerequisites are not
    settled yet (questions on them count :data:`PREREQ_DEFER`). Ties go to the earlier candidate."""
    best, best_score = None, -1.0
    for item in candidates:
        score = belief.gain(item, weights)
        if waiting and any(k in waiting for k, _ in item.weights):
            score *= PREREQ_DEFER
        if score > best_score + 1e-12:
            best, best_score = item, score
    return best


def still_to_know(belief: Belief, confidence: float) -> Arr:
    """The weights of the sessions' question choice, the replay benchmark's rule: each target's answer spread
    (:meth:`Belief.spread`), zero for a target already known within ``confidence`` (as an asked try counts no more
    in the replay)."""
    known = np.array([belief.estimate(k).confidence >= confidence for k in range(len(belief.mean))], dtype=bool)
    out: Arr = np.where(known, 0.0, belief.spread())
    return out


def settled(belief: Belief, targets: Sequence[int], confidence: float) -> bool:
    """Every target's mastery is known within the asked confidence."""
    return all(belief.estimate(k).confidence >= confidence for k in targets)
