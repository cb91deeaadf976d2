"""The learned concept prior of the diagnostic sessions: fitted by `jindan diagnosis calibrate`, read when a session
starts.

:func:`fit` runs :func:`jindan.diagnosis.covariance.fit_prior` on every student's first answer per concept (the
untaught state), for the bank's concepts only, and returns it JSON-safe: ``{"concepts": [ids], "mean": [...],
"cov": [[...]], "answers": [...]}`` (index ``n`` of ``mean``/``cov`` is ``concepts[n]``). Pairs of concepts few
students answered both shrink toward the pooled correlation (the weight of :data:`SHRINK` students). Beyond
:data:`MAX_STUDENTS` students a seeded sample of them is used.

:func:`belief` builds a session's starting belief from it: the sub-mean and sub-covariance of the session's
concepts. A concept the prior lacks gets the fixed-spread defaults of :meth:`jindan.diagnosis.adaptive.Belief.prior`
(the shared ability plus its own part), the shared ability being the average of the known concepts scaled to
:data:`~jindan.diagnosis.adaptive.ABILITY_VAR`, so the matrix stays a valid covariance and one answer on a known
concept still moves the unknown ones.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from jindan.diagnosis.adaptive import ABILITY_VAR, CONCEPT_VAR, Belief
from jindan.diagnosis.covariance import fit_prior

SHRINK = 20.0
MAX_STUDENTS = 20_000  # a seeded sample beyond this: the estimator holds students x concepts matrices in memory
log = logging.getLogger(__name__)


def fit(
    rows: Sequence[tuple[int, int, bool]],
    concepts: Sequence[int],
    *,
    shrink: float = SHRINK,
    max_students: int = MAX_STUDENTS,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(prior or None, fit info) from (student, concept, correct) first answers; ``concepts``: the bank's."""
    keep = set(concepts)
    used = [r for r in rows if r[1] in keep]
    students = sorted({u for u, _, _ in used})
    if len(students) > max_students:
        picked = np.random.default_rng(0).choice(len(students), max_students, replace=False)
        students = sorted(students[i] for i in picked)
        chosen = set(students)
        used = [r for r in used if r[0] in chosen]
    ids = sorted({c for _, c, _ in used})
    info: dict[str, Any] = {"students": len(students), "concepts": len(ids), "answers": len(used), "shrink": shrink}
    if len(ids) < 2 or len(students) < 2:
        return None, info
    upos = {u: n for n, u in enumerate(students)}
    cpos = {c: n for n, c in enumerate(ids)}
    prior = fit_prior(
        np.array([upos[u] for u, _, _ in used], dtype=np.int64),
        np.array([cpos[c] for _, c, _ in used], dtype=np.int64),
        np.array([1.0 if y else 0.0 for _, _, y in used]),
        len(students),
        len(ids),
        shrink=shrink,
    )
    sd = np.sqrt(np.diag(prior.cov))
    corr = prior.cov / np.outer(sd, sd)
    off = ~np.eye(len(ids), dtype=bool)
    info["mean_correlation"] = round(float(corr[off].mean()), 4)
    data = {
        "concepts": ids,
        "mean": prior.mean.round(5).tolist(),
        "cov": prior.cov.round(6).tolist(),
        "answers": prior.answers.tolist(),
    }
    return data, info


def belief(concepts: Sequence[int], defaults: Sequence[float], prior: dict[str, Any] | None) -> tuple[Belief, bool]:
    """(the starting belief over ``concepts``, whether the learned prior shaped it); ``defaults``: the mean logit of
    each concept when the prior lacks it (the calibrated difficulty)."""
    fixed = Belief.prior(defaults)
    if not prior:
        return fixed, False
    try:
        pos = {int(c): n for n, c in enumerate(prior["concepts"])}
        mean_all = np.asarray(prior["mean"], dtype=np.float64)
        cov_all = np.asarray(prior["cov"], dtype=np.float64)
        if cov_all.shape != (len(pos), len(pos)) or mean_all.shape != (len(pos),):
            raise ValueError(f"covariance {cov_all.shape} and mean {mean_all.shape} for {len(pos)} concepts")
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("calibration's concept prior unusable, using fixed spreads: %s", exc)
        return fixed, False
    known = np.array([k for k, c in enumerate(concepts) if c in pos], dtype=np.int64)
    if known.size == 0:
        return fixed, False
    idx = np.array([pos[concepts[k]] for k in known], dtype=np.int64)
    mean = fixed.mean.copy()
    mean[known] = mean_all[idx]
    cov = fixed.cov.copy()
    sub = cov_all[np.ix_(idx, idx)]
    cov[np.ix_(known, known)] = sub
    missing = np.setdiff1d(np.arange(len(concepts)), known)
    if missing.size:
        link = sub.mean(axis=1)  # Cov(theta_k, average of the known concepts)
        spread = float(link.mean())  # variance of that average
        beta = math.sqrt(ABILITY_VAR / spread) if spread > 1e-9 else 0.0
        cov[np.ix_(missing, known)] = beta * link[None, :]
        cov[np.ix_(known, missing)] = beta * link[:, None]
        cov[np.ix_(missing, missing)] = ABILITY_VAR + CONCEPT_VAR * np.eye(missing.size)
    return Belief(mean, cov), True
