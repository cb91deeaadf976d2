"""A learned prior for the adaptive belief: the mean and full covariance of the item logits, from training students.

The belief of :mod:`jindan.diagnosis.adaptive` is ``theta ~ N(mean, cov)`` with ``P(correct) = sigmoid(theta)``.
Under the probit approximation that is a latent ``z = theta + N(0, L)`` (``L = 8 / pi``) answered right when
``z > 0``, so the data fix, per item, the rate of success and, per pair of items, the correlation of their latent
``z`` (the tetrachoric correlation). :func:`fit_prior` estimates both from (student, item, correct) triples:

- the tetrachoric correlation of every pair answered by the same students, by the cosine-pi approximation
  ``cos(pi / (1 + sqrt(odds ratio)))``, shrunk toward the pooled correlation of its kind (two items of one group,
  e.g. two tries of one concept, or of two groups) with the weight of ``shrink`` students;
- each item's own variance from its communality (its largest correlation, times ``communality``), so
  ``var = h L / (1 - h)``; the covariances are the correlations times ``coupling`` on the latent scale;
- the mean such that ``E[sigmoid(theta)]`` is the item's smoothed success rate.

The matrix is projected onto the positive-definite cone. Items never answered keep the pooled correlations and a
50% rate. Stored as JSON (:meth:`LearnedPrior.to_dict`) or ``.npz`` (:meth:`LearnedPrior.save`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

Arr = npt.NDArray[np.float64]
Idx = npt.NDArray[np.int64]
L = 8.0 / math.pi  # latent noise variance of a logistic answer under the probit approximation
MIN_EIG = 1e-3


@dataclass
class LearnedPrior:
    mean: Arr  # (items,)
    cov: Arr  # (items, items)
    answers: Idx  # training answers per item

    def __len__(self) -> int:
        return len(self.mean)

    def sub(self, idx: Sequence[int]) -> tuple[Arr, Arr]:
        """Mean and covariance of ``idx``; an item outside the prior gets mean 0, the median variance and no
        covariance with the others."""
        ix = np.asarray(idx, dtype=np.int64)
        known = (ix >= 0) & (ix < len(self.mean))
        safe = np.where(known, ix, 0)
        mean = np.where(known, self.mean[safe], 0.0)
        cov = self.cov[np.ix_(safe, safe)] * np.outer(known, known)
        fallback = float(np.median(np.diag(self.cov))) if len(self.mean) else 1.0
        cov[np.diag_indices(len(ix))] = np.where(known, np.diag(cov), fallback)
        return mean, cov

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "cov": self.cov.tolist(), "answers": self.answers.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LearnedPrior:
        mean = np.asarray(data["mean"], dtype=np.float64)
        cov = np.asarray(data["cov"], dtype=np.float64)
        if cov.shape != (len(mean), len(mean)):
            raise ValueError(f"covariance of shape {cov.shape} for {len(mean)} items")
        return cls(mean, cov, np.asarray(data["answers"], dtype=np.int64))

    def save(self, path: Path) -> None:
        with path.open("wb") as fh:
            np.savez_compressed(fh, mean=self.mean, cov=self.cov, answers=self.answers)

    @classmethod
    def load(cls, path: Path) -> LearnedPrior:
        with np.load(path) as z:
            return cls.from_dict({"mean": z["mean"], "cov": z["cov"], "answers": z["answers"]})


def fit_prior(
    users: Idx,
    items: Idx,
    y: Arr,
    n_users: int,
    n_items: int,
    groups: Idx | None = None,
    *,
    shrink: float = 20.0,
    communality: float = 0.5,
    coupling: float = 0.85,
) -> LearnedPrior:
    """``groups[i]``: the group of item ``i`` (its concept); ``None``: every item its own group."""
    group = np.arange(n_items) if groups is None else np.asarray(groups, dtype=np.int64)
    seen = np.zeros((n_users, n_items))
    right = np.zeros((n_users, n_items))
    seen[users, items] = 1.0
    right[users, items] = y
    wrong = seen - right
    both = seen.T @ seen
    n11, n00 = right.T @ right, wrong.T @ wrong
    n10, n01 = right.T @ wrong, wrong.T @ right
    odds = ((n11 + 0.5) * (n00 + 0.5)) / ((n10 + 0.5) * (n01 + 0.5))
    rho = np.cos(np.pi / (1.0 + np.sqrt(odds)))
    same = group[:, None] == group[None, :]
    off = ~np.eye(n_items, dtype=bool)

    def pooled(mask: npt.NDArray[np.bool_]) -> float:
        w = both[mask]
        return float((rho[mask] * w).sum() / w.sum()) if w.sum() > 0 else 0.0

    base = np.where(same, pooled(same & off), pooled(~same))
    r = (both * rho + shrink * base) / (both + shrink)
    np.fill_diagonal(r, 0.0)
    h = np.clip(np.clip(r.max(axis=1, initial=0.0), 0.05, 0.95) * communality, 0.05, 0.95)
    var = h * L / (1.0 - h)
    scale = np.sqrt(var + L)
    cov = r * np.outer(scale, scale) * coupling
    cov[np.diag_indices(n_items)] = var
    w, v = np.linalg.eigh(cov)
    cov = (v * np.maximum(w, MIN_EIG)) @ v.T
    cov = (cov + cov.T) / 2
    answers = np.bincount(items, minlength=n_items).astype(np.int64)
    rate = (np.bincount(items, weights=y, minlength=n_items) + 1.0) / (answers + 2.0)
    mean = norm.ppf(rate) * np.sqrt(L + np.diag(cov))
    return LearnedPrior(mean, cov, answers)
