"""Checks every learned member of the prediction blend must pass (the GRU, the attention model): numpy predicts
what torch predicts, the stored form predicts the same, and a prediction reads earlier answers only."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np


def random_history(concepts: int, n: int = 80, seed: int = 0) -> tuple[list[int], list[int]]:
    """A student's answers, some on concepts the model never saw (``concepts`` and above)."""
    rng = np.random.default_rng(seed)
    return [int(c) for c in rng.integers(0, concepts + 3, size=n)], [int(y) for y in rng.integers(0, 2, size=n)]


def assert_numpy_is_torch(
    model: Any, expected: np.ndarray, history: tuple[list[int], list[int]], load: Callable[[Any], Any]
) -> None:
    """``model`` (numpy) gives torch's logits ``expected``, and so does ``load(model.to_dict())`` after JSON."""
    cs, ys = history
    assert np.abs(model.logits_sequence(cs, ys) - expected).max() < 1e-4
    again = load(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(again.logits_sequence(cs, ys), model.logits_sequence(cs, ys))
    assert model.logits_sequence([], []).shape == (0,)


def assert_reads_earlier_answers_only(model: Any) -> None:
    cs, ys = [1, 2, 1, 3, 1, 2, 4, 1], [1, 0, 0, 1, 1, 0, 1, 0]
    n = 4
    flipped = ys[:n] + [1 - y for y in ys[n:]]
    a, b = model.logits_sequence(cs, ys), model.logits_sequence(cs, flipped)
    assert np.array_equal(a[: n + 1], b[: n + 1])  # the answer at n is predicted before it is given
    assert not np.allclose(a[n + 1 :], b[n + 1 :])
