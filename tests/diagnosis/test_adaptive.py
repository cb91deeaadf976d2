"""The adaptive engine on scripted students whose true mastery is drawn from the model's own prior."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jindan.diagnosis import adaptive
from jindan.diagnosis.adaptive import Belief, Item

CONCEPTS = 4
PER_CONCEPT = 10
TARGET = 0.5
MAX = 40


def _bank() -> list[Item]:
    """Ten questions per concept, difficulties from easy (-2.5) to hard (+2.5); ids 100 * concept + n."""
    return [
        Item(100 * c + n, ((c, 1.0),), float(d))
        for c in range(CONCEPTS)
        for n, d in enumerate(np.linspace(-2.5, 2.5, PER_CONCEPT))
    ]


def _session(policy: str, seed: int) -> tuple[int, Belief, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    belief = Belief.prior([0.0] * CONCEPTS)
    truth = rng.multivariate_normal(belief.mean, belief.cov)  # a student the model could have produced
    bank, asked = _bank(), []
    pick = np.random.default_rng(seed + 10_000)
    while len(asked) < MAX and not adaptive.settled(belief, range(CONCEPTS), TARGET):
        left = [q for q in bank if q.key not in asked]
        if policy == "adaptive":
            q = adaptive.choose(belief, left)
        elif policy == "session":  # the live sessions' weights
            q = adaptive.choose(belief, left, weights=adaptive.still_to_know(belief, TARGET))
        else:
            q = left[int(pick.integers(len(left)))]
        assert q is not None
        p = 1 / (1 + math.exp(-(truth[q.weights[0][0]] - q.offset)))
        belief.update(q, bool(rng.random() < p))
        asked.append(q.key)
    return len(asked), belief, truth, asked


def test_adaptive_reaches_the_target_confidence_in_fewer_questions_than_random() -> None:
    seeds = range(40)
    adaptive_n = [_session("adaptive", s)[0] for s in seeds]
    random_n = [_session("random", s)[0] for s in seeds]
    assert np.mean(adaptive_n) < 0.85 * np.mean(random_n), (np.mean(adaptive_n), np.mean(random_n))
    assert sum(a <= r for a, r in zip(adaptive_n, random_n, strict=True)) >= 30


def test_the_sessions_weighted_rule_also_beats_random() -> None:
    seeds = range(40)
    session_n = [_session("session", s)[0] for s in seeds]
    random_n = [_session("random", s)[0] for s in seeds]
    assert np.mean(session_n) < 0.85 * np.mean(random_n), (np.mean(session_n), np.mean(random_n))
    assert sum(a <= r for a, r in zip(session_n, random_n, strict=True)) >= 30


def test_the_stated_interval_holds_the_true_mastery() -> None:
    inside = total = 0
    for seed in range(40):
        n, belief, truth, _ = _session("adaptive", seed)
        for k in range(CONCEPTS):
            e = belief.estimate(k)
            true_mastery = 1 / (1 + math.exp(-truth[k]))
            inside += e.low <= true_mastery <= e.high
            total += 1
            if n < MAX:
                assert e.confidence >= TARGET
    assert inside / total >= 0.8, inside / total  # a 90% interval, checked over 160 concepts


def test_a_session_never_repeats_a_question() -> None:
    for seed in range(10):
        _, _, _, asked = _session("adaptive", seed)
        assert len(asked) == len(set(asked))


def test_the_next_question_is_near_the_estimate() -> None:
    belief = Belief.prior([0.0])
    for _ in range(4):
        belief.update(Item(0, ((0, 1.0),), 0.0), True)  # four right answers: a strong student
    estimate = belief.mean[0]
    bank = [Item(n, ((0, 1.0),), d) for n, d in enumerate((-2.0, -1.0, 0.0, 1.0, 2.0, 3.0))]
    chosen = adaptive.choose(belief, bank)
    assert chosen is not None
    assert abs(chosen.offset - estimate) == min(abs(q.offset - estimate) for q in bank)
    assert 0.3 < belief.predict(chosen) < 0.7


def test_prerequisites_come_first_when_unsettled() -> None:
    belief = Belief.prior([0.0, 0.0])
    later, earlier = Item(1, ((1, 1.0),)), Item(0, ((0, 1.0),))
    assert adaptive.choose(belief, [later, earlier]) is later  # a tie: the first candidate
    assert adaptive.choose(belief, [later, earlier], waiting={1}) is earlier


def test_answers_move_the_belief_the_right_way_and_shrink_it() -> None:
    belief = Belief.prior([0.0, 0.0])
    before = belief.cov.copy()
    belief.update(Item(0, ((0, 1.0),)), True)
    assert belief.mean[0] > belief.mean[1] > 0  # the shared ability carries part of it to concept 1
    assert belief.cov[0, 0] < before[0, 0] and belief.cov[1, 1] < before[1, 1]
    again = Belief.from_dict(belief.to_dict())
    assert np.allclose(again.mean, belief.mean) and np.allclose(again.cov, belief.cov, atol=1e-6)
    with pytest.raises(ValueError, match="covariance"):
        Belief([0.0, 0.0], [[1.0]])
