"""The boosted trees: exported arrays predict exactly what scikit-learn predicts, from earlier responses only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from jindan.diagnosis import boosted
from jindan.diagnosis.history import MAX_CATEGORIES, ConceptStats, design
from jindan.diagnosis.model import auc
from jindan.evaluation.diagnosis import evaluate, read_pykt
from tests.conftest import shared_file

Logs = list[tuple[list[int], list[int]]]


@pytest.fixture(scope="module")
def logs() -> Logs:
    return [x for x in read_pykt(shared_file("assist2015/train_valid.csv"), folds={1})[:1200] if x[0]]


def _fitted(logs: Logs, stats: ConceptStats) -> HistGradientBoostingClassifier:
    x = np.vstack([design(cs, ys, stats) for cs, ys in logs])
    y = np.concatenate([ys for _, ys in logs])
    categorical = np.zeros(x.shape[1], dtype=bool)
    categorical[0] = True
    est = HistGradientBoostingClassifier(max_iter=40, categorical_features=categorical, random_state=0)
    return est.fit(x, y)


def test_exported_trees_predict_what_scikit_learn_predicts(logs: Logs) -> None:
    stats = ConceptStats.learn(logs[:900])
    est = _fitted(logs[:900], stats)
    model = boosted.export(est, stats)
    x = np.vstack([design(cs, ys, stats) for cs, ys in logs[900:]])
    x[::5, 0] = np.nan  # a concept the trees never saw
    assert model.categorical.any()  # the concept splits are exercised, not only numeric ones
    assert np.abs(model.logits(x) - est.decision_function(x)).max() < 1e-9
    again = boosted.BoostedModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.array_equal(again.logits(x), model.logits(x))


def test_trees_use_only_earlier_responses(logs: Logs) -> None:
    model = boosted.train(logs[:600])
    cs, ys = logs[700]
    n = len(cs) // 2
    flipped = ys[:n] + [1 - y for y in ys[n:]]
    a, b = model.logits_sequence(cs, ys), model.logits_sequence(cs, flipped)
    assert np.array_equal(a[: n + 1], b[: n + 1])
    assert not np.allclose(a[n + 1 :], b[n + 1 :])


def test_a_set_of_seeds_averages_its_members_and_reads_one_stored_model(logs: Logs) -> None:
    trees = boosted.train_set(logs[:600], seeds=(0, 1))
    cs, ys = logs[700]
    a, b = (m.logits_sequence(cs, ys) for m in trees.members)
    assert not np.allclose(a, b)  # each seed stops early on different responses
    assert np.allclose(trees.logits_sequence(cs, ys), (a + b) / 2)
    again = boosted.BoostedSet.from_dict(json.loads(json.dumps(trees.to_dict())), boosted.BoostedModel.from_dict)
    assert np.array_equal(again.logits_sequence(cs, ys), trees.logits_sequence(cs, ys))
    one = boosted.BoostedSet.from_dict(trees.members[0].to_dict(), boosted.BoostedModel.from_dict)  # stored alone
    assert np.array_equal(one.logits_sequence(cs, ys), a)


def test_more_concepts_than_categories_still_predict() -> None:
    rng = np.random.default_rng(0)
    logs = []
    for _ in range(300):
        cs = [int(c) for c in rng.integers(0, 400, size=20)]
        logs.append((cs, [int(c % 2 == 0 or rng.random() < 0.2) for c in cs]))  # even concepts are easy
    stats = ConceptStats.learn(logs)
    assert len(stats.codes) == MAX_CATEGORIES and len(stats.rates) == 400
    model = boosted.train(logs)
    z = np.concatenate([model.logits_sequence(cs, ys) for cs, ys in logs])
    y = np.concatenate([ys for _, ys in logs])
    assert np.isfinite(z).all() and auc(y, z) > 0.8  # the concept category carries the easy / hard split


def test_related_concepts_carry_a_students_results_over() -> None:
    # concepts 0 and 1 go together (a student strong on one is strong on the other), 2 is independent
    rng = np.random.default_rng(1)
    logs = []
    for _ in range(400):
        strong, other = rng.random() < 0.5, rng.random() < 0.5
        cs = [0] * 4 + [1] * 4 + [2] * 4
        p = [0.9 if strong else 0.3] * 8 + [0.9 if other else 0.3] * 4
        logs.append((cs, [int(rng.random() < q) for q in p]))
    stats = ConceptStats.learn(logs)
    assert stats.related[0, 1] > 0.5 and stats.related[0, 2] < 0.2 and stats.related[0, 0] == 0
    related = design([0, 0, 1], [1, 1, 0], stats)[:, -2]  # related_ability before each answer
    assert related[0] == 0 and related[2] > 0.1  # the two right answers on 0 count for concept 1
    again = ConceptStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert np.allclose(again.related, stats.related, atol=1e-4)


def test_the_eval_blends_gru_and_trees_and_reports_the_explainable_part(logs: Logs) -> None:
    result = evaluate(logs[:400], logs[1000:1100])
    assert result["model"] == "logistic + GRU + attention + boosted trees"
    assert 0.6 < result["auc_explainable"] < 1 and 0.6 < result["auc"] < 1
