"""`jindan eval adaptive`: replaying students' real answers through adaptive, random and fixed-order tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jindan.cli.main import app
from jindan.evaluation.adaptive import KS, POLICIES, Replay, _adaptive, evaluate, fit_prior, pool_of
from jindan.evaluation.diagnosis import read_pykt
from tests.conftest import shared_file

Log = tuple[list[int], list[int]]


def _students(n: int, seed: int, concepts: int = 10, tries: int = 4) -> list[Log]:
    """Simulated logs: one ability, concepts of varied difficulty, each concept worked ``tries`` times in a row."""
    rng = np.random.default_rng(seed)
    difficulty = np.linspace(-1.5, 1.5, concepts)
    logs: list[Log] = []
    for _ in range(n):
        ability = rng.normal()
        order = rng.permutation(concepts)
        cs = [int(c) for c in order for _ in range(tries)]
        ys = [int(rng.random() < 1 / (1 + np.exp(-(ability - difficulty[c])))) for c in cs]
        logs.append((cs, ys))
    return logs


def test_the_pool_is_the_first_tries_per_concept_in_time_order() -> None:
    assert pool_of([5, 5, 7, 5, 5, 7], [0, 1, 1, 1, 0, 0], 3) == [
        (5, 0, 0), (5, 1, 1), (7, 0, 1), (5, 2, 1), (7, 1, 0),
    ]  # fmt: skip


def test_a_replay_reveals_only_what_it_asked_in_each_concepts_order() -> None:
    train = _students(200, 0)
    prior, _ = fit_prior(train, 3)
    r = Replay(pool_of(*_students(1, 9)[0], 3), prior, 3)
    total = len(r.pool)
    assert len(r.predictions()[0]) == total
    first = r.candidates()
    assert all(r.pool[k][1] == 0 for k in first)  # a concept's second try only after its first
    r.ask(first[0])
    ps, _ = r.predictions()
    assert len(ps) == total - 1 and r.revealed.sum() == 1 and r.revealed[first[0]]
    nxt = [k for k in r.candidates() if r.pool[k][0] == r.pool[first[0]][0]]
    assert nxt and r.pool[nxt[0]][1] == 1


def test_an_adaptive_replay_never_repeats_and_never_leaves_the_students_concepts() -> None:
    prior, _ = fit_prior(_students(300, 4), 3)
    for seed in range(5):
        cs, ys = _students(1, 20 + seed, concepts=8, tries=2)[0]
        r = Replay(pool_of(cs[4:], ys[4:], 3), prior, 3)  # the student skipped two concepts
        asked: list[int] = []
        while cands := r.candidates():
            k = _adaptive(r, cands)
            assert k in cands and k not in asked
            asked.append(k)
            r.ask(k)
        assert sorted(asked) == list(range(len(r.pool)))  # each answer once, nothing outside the pool
        assert {r.pool[k][0] for k in asked} == set(cs[4:])
        with pytest.raises(ValueError):
            r.ask(asked[0])


def test_every_policy_predicts_the_same_students_and_adaptive_learns_fastest() -> None:
    result = evaluate(_students(400, 1), _students(60, 2), min_pool=25, targets=(0.2,))
    assert result["students"] == 60
    for pol in POLICIES:
        by_k = result["policies"][pol]["by_k"]
        assert [by_k[str(k)]["n"] for k in (0, *KS)] == [60 * (30 - k) for k in (0, *KS)]
        assert all(0.5 < v["auc"] <= 1 and v["logloss"] > 0 for v in by_k.values())
    ad, rnd = result["policies"]["adaptive"]["by_k"], result["policies"]["random"]["by_k"]
    assert ad["10"]["logloss"] < rnd["10"]["logloss"]
    goal = result["adaptive_10_against_random_20"]
    assert goal["auc"] == round(ad["10"]["auc"] - rnd["20"]["auc"], 4)
    assert goal["logloss"] == round(ad["10"]["logloss"] - rnd["20"]["logloss"], 4)
    assert goal["as_accurate"] == (goal["auc"] >= 0 and goal["logloss"] <= 0)


def test_on_real_assistments_students(tmp_path: Path) -> None:
    logs = read_pykt(shared_file("assist2015/train_valid.csv"))
    result = evaluate(logs[:1500], logs[1500:3000], sample=40, seed=0)
    assert result["students"] == 40 and result["eligible_students"] >= 40
    pols = result["policies"]
    assert pols["adaptive"]["by_k"]["10"]["logloss"] < pols["random"]["by_k"]["10"]["logloss"]
    for pol in POLICIES:
        assert set(pols[pol]["to_target"]) == {"0.2", "0.3", "0.4"}
    assert (pols["adaptive"]["orders"], pols["random"]["orders"], pols["fixed"]["orders"]) == (1, 5, 1)


def test_the_random_policy_is_the_mean_of_its_orders() -> None:
    train, test = _students(400, 1), _students(30, 2)
    one = [evaluate(train, test, targets=(0.2,), seed=7, random_orders=1)]  # the first order alone ...
    both = evaluate(train, test, targets=(0.2,), seed=7, random_orders=2)
    rows = both["policies"]["random"]["by_k"]
    assert both["policies"]["random"]["orders"] == 2
    for k in ("5", "10", "20"):
        lo, hi = rows[k]["auc_lowest"], rows[k]["auc_highest"]
        assert lo <= rows[k]["auc"] <= hi and lo < hi  # two different orders
        assert one[0]["policies"]["random"]["by_k"][k]["auc"] in (lo, hi)  # ... is one of the two
        assert "auc_lowest" not in both["policies"]["adaptive"]["by_k"][k]
    assert both["policies"]["adaptive"] == one[0]["policies"]["adaptive"]  # the other policies do not move
    reached = both["policies"]["random"]["to_target"]["0.2"]["reached"]
    assert 0.5 < reached <= 1  # a share of the students over both orders


def test_the_command(tmp_path: Path) -> None:
    path = tmp_path / "pykt.csv"
    rows = ["fold,uid,concepts,responses"]
    for n, (cs, ys) in enumerate(_students(250, 3)):
        rows.append(f'{n % 5},{n},"{",".join(map(str, cs))}","{",".join(map(str, ys))}"')
    path.write_text("\n".join(rows) + "\n")
    env = {"JINDAN_HOME": str(tmp_path / "home")}
    args = ["eval", "adaptive", "--train", str(path), "--test", str(path), "--test-fold", "0", "--sample", "10"]
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["students"] == 10 and data["train_students"] == 200 and set(data["policies"]) == set(POLICIES)
    dropped = CliRunner().invoke(app, [*args, "--drop-fold", "1", "--json"], env=env)
    assert dropped.exit_code == 0, dropped.output
    assert json.loads(dropped.stdout)["train_students"] == 150  # fold 1 is neither trained on nor replayed
    table = CliRunner().invoke(app, args, env=env)
    assert table.exit_code == 0 and "adaptive" in table.stdout and "k=10" in table.stdout
    assert "random: the mean of 5 orders" in table.stdout
    assert "adaptive with 10 questions against random with 20: AUC" in table.stdout
    three = CliRunner().invoke(app, [*args, "--random-orders", "3", "--json"], env=env)
    assert three.exit_code == 0 and json.loads(three.stdout)["policies"]["random"]["orders"] == 3
