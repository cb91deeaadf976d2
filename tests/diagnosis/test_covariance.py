"""The learned prior of the adaptive belief: fitted from answers, stored and loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jindan.diagnosis.adaptive import Belief, Item
from jindan.diagnosis.covariance import LearnedPrior, fit_prior


def _answers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Six items: 0-2 share skill A, 3-5 skill B, A and B independent; item 2 and 5 easy, the rest middling."""
    rng = np.random.default_rng(seed)
    skills = rng.normal(0, 1.5, size=(n, 2))
    easy = np.array([0.0, 0.0, 2.0, 0.0, 0.0, 2.0])
    logits = skills[:, [0, 0, 0, 1, 1, 1]] + easy
    y = (rng.random((n, 6)) < 1 / (1 + np.exp(-logits))).astype(np.float64)
    users = np.repeat(np.arange(n), 6)
    items = np.tile(np.arange(6), n)
    return users, items, y.ravel()


def test_the_prior_is_learned_from_answers() -> None:
    users, items, y = _answers(3000, 0)
    prior = fit_prior(users, items, y, 3000, 6, np.array([0, 0, 0, 1, 1, 1]))
    corr = prior.cov / np.sqrt(np.outer(np.diag(prior.cov), np.diag(prior.cov)))
    within = [corr[0, 1], corr[0, 2], corr[3, 4], corr[4, 5]]
    across = [corr[0, 3], corr[1, 4], corr[2, 5]]
    assert min(within) > 0.5 and max(np.abs(across)) < 0.2
    assert prior.mean[2] > prior.mean[0] + 1 and prior.mean[5] > prior.mean[3] + 1
    assert np.all(np.linalg.eigvalsh(prior.cov) > 0)
    assert prior.answers.tolist() == [3000] * 6
    # an answer moves the items of its skill and leaves the other skill nearly where it was
    b = Belief(prior.mean, prior.cov)
    b.update(Item(0, ((0, 1.0),)), False)
    assert b.mean[1] < prior.mean[1] - 0.3 and abs(b.mean[4] - prior.mean[4]) < 0.1


def test_items_never_answered_fall_back() -> None:
    users, items, y = _answers(500, 1)
    keep = items < 5
    prior = fit_prior(users[keep], items[keep], y[keep], 500, 6, np.array([0, 0, 0, 1, 1, 1]))
    assert prior.answers[5] == 0 and prior.mean[5] == 0.0  # no answers: a 50% rate
    mean, cov = prior.sub([0, 9])  # 9 is outside the prior
    assert mean[1] == 0.0 and cov[0, 1] == 0.0 and cov[1, 1] > 0


def test_the_prior_is_stored_and_loaded(tmp_path: Path) -> None:
    users, items, y = _answers(400, 2)
    prior = fit_prior(users, items, y, 400, 6)
    prior.save(tmp_path / "prior.npz")
    for back in (LearnedPrior.load(tmp_path / "prior.npz"), LearnedPrior.from_dict(prior.to_dict())):
        assert np.allclose(back.mean, prior.mean) and np.allclose(back.cov, prior.cov)
        assert back.answers.tolist() == prior.answers.tolist()
