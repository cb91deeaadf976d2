"""The sessions' learned concept prior: fitted from first answers, read back into a starting belief."""

from __future__ import annotations

import json

import numpy as np

from jindan.diagnosis.adaptive import ABILITY_VAR, CONCEPT_VAR, Belief, Item
from jindan.diagnosis.concept_prior import belief, fit


def _rows(n: int, seed: int = 0) -> list[tuple[int, int, bool]]:
    """Concepts 10 and 11 share a skill, 12 and 13 another; concept 99 is not in the bank."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(n):
        a, b = rng.normal(0, 1.0, 2)
        for c, logit in ((10, a), (11, a + 1.0), (12, b), (13, b), (99, a)):
            out.append((u, c, bool(rng.random() < 1 / (1 + np.exp(-logit)))))
    return out


def test_the_prior_covers_the_bank_concepts_and_learns_their_correlation() -> None:
    prior, info = fit(_rows(2000), [10, 11, 12, 13, 14])
    assert prior is not None
    assert prior["concepts"] == [10, 11, 12, 13]  # 99 is not in the bank, 14 has no answers
    assert info["students"] == 2000 and info["concepts"] == 4 and info["shrink"] == 20.0
    cov = np.asarray(prior["cov"])
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert min(corr[0, 1], corr[2, 3]) > max(corr[0, 2], corr[0, 3], corr[1, 2], corr[1, 3]) + 0.5
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    assert prior["mean"][1] > prior["mean"][0] + 0.5  # concept 11 is easier
    assert json.loads(json.dumps(prior)) == prior  # JSON-safe as stored


def test_a_large_population_is_sampled() -> None:
    prior, info = fit(_rows(300), [10, 11, 12, 13], max_students=120)
    assert prior is not None and info["students"] == 120 and info["answers"] == 120 * 4


def test_too_few_answers_fit_no_prior() -> None:
    prior, info = fit([(1, 10, True), (1, 11, False)], [10, 11])
    assert prior is None and info["students"] == 1


def test_a_belief_from_the_prior_couples_concepts_it_lacks_through_the_ability() -> None:
    prior, _ = fit(_rows(2000), [10, 11, 12, 13])
    assert prior is not None
    b, learned = belief([11, 10, 77], [0.3, -0.2, 0.5], prior)
    assert learned
    cov = np.asarray(prior["cov"])
    assert np.allclose(b.cov[:2, :2], cov[np.ix_([1, 0], [1, 0])])  # the sub-covariance, in the session's order
    assert np.allclose(b.mean[:2], [prior["mean"][1], prior["mean"][0]])
    assert b.mean[2] == 0.5 and b.cov[2, 2] == ABILITY_VAR + CONCEPT_VAR  # 77: the fixed-spread default
    assert b.cov[2, 0] > 0.3 and np.all(np.linalg.eigvalsh(b.cov) > 0)
    before = b.mean.copy()
    b.update(Item(0, ((1, 1.0),)), False)  # wrong on concept 10
    assert b.mean[0] < before[0] - 0.15 and b.mean[2] < before[2] - 0.1


def test_without_a_usable_prior_the_fixed_spreads_stay() -> None:
    fixed = Belief.prior([0.1, -0.4])
    for bad in (None, {}, {"concepts": [1, 2], "mean": [0.0], "cov": [[1.0]]}, {"concepts": [5]}):
        b, learned = belief([1, 2], [0.1, -0.4], bad)
        assert not learned and np.allclose(b.cov, fixed.cov) and np.allclose(b.mean, fixed.mean)
    b, learned = belief([1, 2], [0.1, -0.4], {"concepts": [3], "mean": [1.0], "cov": [[2.0]]})
    assert not learned  # none of the session's concepts in the prior
