"""Item response models fitted on (student, item, correct) triples: difficulties with standard errors.

- :func:`fit_1pl`: Rasch, ``P = sigmoid(ability_u - difficulty_i)``, abilities ``N(0, 1)``, difficulties with a
  weak ``N(0, 3^2)`` prior (joint maximum a posteriori by L-BFGS). The standard error of a difficulty is the
  inverse square root of its information with the abilities held at their estimates.
- :func:`fit_2pl`: adds a discrimination ``a_i`` (``P = sigmoid(a_i (ability_u - difficulty_i))``, prior
  ``N(1, 0.5^2)``) for items with at least ``min_2pl`` answers, by Newton steps per item against the 1PL
  abilities (rescaled to unit spread); standard errors from the inverse of each item's 2x2 information.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

Arr = npt.NDArray[np.float64]
Idx = npt.NDArray[np.int64]
B_PRIOR_VAR = 9.0
A_PRIOR = (1.0, 0.25)  # mean, variance of a discrimination


def _sig(z: Arr) -> Arr:
    out: Arr = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


@dataclass
class ItemFit:
    difficulty: Arr
    difficulty_se: Arr
    discrimination: Arr
    discrimination_se: Arr  # nan where the item kept a = 1 (1PL)
    answers: Idx
    ability: Arr = field(default_factory=lambda: np.zeros(0))


def fit_1pl(users: Idx, items: Idx, y: Arr, n_users: int, n_items: int) -> ItemFit:
    def loss_grad(x: Arr) -> tuple[float, Arr]:
        th, b = x[:n_users], x[n_users:]
        p = _sig(th[users] - b[items])
        eps = 1e-12
        nll = float(-np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        nll += float(0.5 * th @ th + 0.5 * b @ b / B_PRIOR_VAR)
        r = p - y
        g_th = np.bincount(users, weights=r, minlength=n_users) + th
        g_b = -np.bincount(items, weights=r, minlength=n_items) + b / B_PRIOR_VAR
        return float(nll), np.concatenate([g_th, g_b])

    res = minimize(loss_grad, np.zeros(n_users + n_items), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    th, b = res.x[:n_users], res.x[n_users:]
    p = _sig(th[users] - b[items])
    info = np.bincount(items, weights=p * (1 - p), minlength=n_items) + 1 / B_PRIOR_VAR
    n = np.bincount(items, minlength=n_items).astype(np.int64)
    ones = np.ones(n_items)
    return ItemFit(b, 1 / np.sqrt(info), ones, np.full(n_items, np.nan), n, th)


def fit_2pl(users: Idx, items: Idx, y: Arr, n_users: int, n_items: int, *, min_2pl: int = 200) -> ItemFit:
    base = fit_1pl(users, items, y, n_users, n_items)
    th = base.ability / max(float(np.std(base.ability)), 1e-6)  # the prior shrinks abilities: back to unit spread
    order = np.argsort(items, kind="stable")
    bounds = np.searchsorted(items[order], np.arange(n_items + 1))
    for i in np.flatnonzero(base.answers >= min_2pl):
        rows = order[bounds[i] : bounds[i + 1]]
        t, yi = th[users[rows]], y[rows]
        a, b = 1.0, float(base.difficulty[i])
        for _ in range(30):
            d = t - b
            p = _sig(a * d)
            r = yi - p
            g = np.array([r @ d - (a - A_PRIOR[0]) / A_PRIOR[1], -a * r.sum() - b / B_PRIOR_VAR])
            w = p * (1 - p)
            h = np.array(
                [
                    [-(w @ (d * d)) - 1 / A_PRIOR[1], a * (w @ d) - r.sum()],
                    [a * (w @ d) - r.sum(), -(a * a) * w.sum() - 1 / B_PRIOR_VAR],
                ]
            )
            step = np.linalg.solve(h, g)
            a, b = max(a - step[0], 0.05), b - step[1]
            if np.abs(step).max() < 1e-8:
                break
        cov = np.linalg.inv(-h)
        base.discrimination[i], base.difficulty[i] = a, b
        base.discrimination_se[i] = float(np.sqrt(cov[0, 0]))
        base.difficulty_se[i] = float(np.sqrt(cov[1, 1]))
    return base
