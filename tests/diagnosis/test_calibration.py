"""Difficulty calibration: IRT fits recover simulated items; `jindan diagnosis calibrate` on real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sqlalchemy import select
from typer.testing import CliRunner

from jindan.cli.main import app
from jindan.console.demo import BANK
from jindan.db.engine import Database
from jindan.db.models import DiagnosticCalibration, Question
from jindan.db.repositories import ResponseRepository, UserRepository
from jindan.diagnosis import bank
from jindan.diagnosis.calibration import calibrate, store
from jindan.diagnosis.irt import fit_1pl, fit_2pl
from jindan.diagnosis.recommend import LEVEL_STEP
from jindan.importers.questions import import_questions


def _simulate(n_users: int, b: np.ndarray, a: np.ndarray, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, n_users)
    users = np.repeat(np.arange(n_users), len(b))
    items = np.tile(np.arange(len(b)), n_users)
    p = 1 / (1 + np.exp(-a[items] * (theta[users] - b[items])))
    return users.astype(np.int64), items.astype(np.int64), (rng.random(len(p)) < p).astype(np.float64)


def test_1pl_recovers_difficulties_with_honest_standard_errors() -> None:
    b = np.linspace(-2, 2, 12)
    users, items, y = _simulate(800, b, np.ones(12))
    fit = fit_1pl(users, items, y, 800, 12)
    assert np.corrcoef(fit.difficulty, b)[0, 1] > 0.98
    z = (fit.difficulty - b) / fit.difficulty_se
    assert np.mean(np.abs(z) < 2.5) >= 0.8  # errors of the size the SEs state
    few = fit_1pl(users[:1200], items[:1200], y[:1200], 100, 12)  # 100 students: wider
    assert np.all(few.difficulty_se > fit.difficulty_se)


def test_2pl_only_where_the_data_allow() -> None:
    a = np.tile([0.5, 1.0, 2.0], 7)  # 21 items: enough per student for the abilities to carry the scale
    users, items, y = _simulate(1500, np.zeros(21), a, seed=1)
    fit = fit_2pl(users, items, y, 1500, 21, min_2pl=200)
    low, mid, high = (float(np.mean(fit.discrimination[a == v])) for v in (0.5, 1.0, 2.0))
    assert low < 0.9 < mid < 1.4 < high, (low, mid, high)
    assert np.all(np.isfinite(fit.discrimination_se)) and np.all(fit.discrimination_se < 0.2)
    sparse = fit_2pl(users, items, y, 1500, 21, min_2pl=10_000)
    assert np.all(sparse.discrimination == 1.0) and np.all(np.isnan(sparse.discrimination_se))


def _answers(db: Database, students: int, unit: str) -> dict[int, int]:
    """``students`` students answer every question of ``unit`` once (harder levels less often right)."""
    rng = np.random.default_rng(3)
    with db.session() as s:
        qs = s.execute(select(Question.id, Question.level).where(Question.subject == unit)).tuples().all()
        repo, users = ResponseRepository(s), UserRepository(s)
        for n in range(students):
            uid = users.sync(f"cal-{n}", "student", None)
            ability = rng.normal()
            items = [
                {"question_id": q, "correct": bool(rng.random() < 1 / (1 + np.exp(-(ability - (lvl or 2) + 2))))}
                for q, lvl in qs
            ]
            repo.record(uid, None, items)
    return dict(qs)


def test_calibrate_fits_answered_questions_and_falls_back_for_the_rest(db: Database) -> None:
    import_questions(db, BANK, source="ko-math")
    unit = _answers(db, 40, "일차방정식")
    params, info = calibrate(db, min_answers=30)
    qs = params["questions"]
    assert {int(q) for q, v in qs.items() if v["source"] == "fit"} == set(unit)
    assert info["questions_fitted"] == len(unit) and info["questions_from_level"] == len(qs) - len(unit)
    for v in qs.values():
        assert v["se"] > 0
        if v["source"] == "fit":
            assert v["answers"] == 40 and v["se"] < 1.0
    with db.session() as s:
        other = s.scalars(select(Question).where(Question.subject == "미분").limit(1)).one()
        level, concept = other.level or 3, other.concepts[0].id
    fallback = qs[str(other.id)]
    assert fallback["source"] == "level" and fallback["answers"] == 0
    concept_b = params["concepts"].get(str(concept), {"difficulty": 0.0})["difficulty"]
    if len(other.concepts) == 1:
        assert abs(fallback["difficulty"] - (concept_b + LEVEL_STEP * (level - 3))) < 1e-3
    version = store(db, params, info)
    with db.session() as s:
        assert s.scalar(select(DiagnosticCalibration.version).where(DiagnosticCalibration.active)) == version
        scoped = bank.load(s, "일차방정식", None)
    assert scoped.calibration == version
    hard = max(unit, key=lambda q: qs[str(q)]["difficulty"])
    easy = min(unit, key=lambda q: qs[str(q)]["difficulty"])
    assert scoped.offsets[hard] > scoped.offsets[easy]  # the session asks by fitted difficulty now


def test_calibrate_stores_the_learned_concept_prior(db: Database) -> None:
    import_questions(db, BANK, source="ko-math")
    _answers(db, 40, "일차방정식")
    params, info = calibrate(db, min_answers=30)
    prior = params["concept_prior"]
    with db.session() as s:
        answered = {
            min(c.id for c in q.concepts) for q in s.scalars(select(Question).where(Question.subject == "일차방정식"))
        }
    assert set(prior["concepts"]) == answered  # concepts with first answers, and only the bank's
    k = len(prior["concepts"])
    cov = np.asarray(prior["cov"])
    assert len(prior["mean"]) == k and cov.shape == (k, k) and np.all(np.linalg.eigvalsh(cov) > 0)
    assert info["concept_prior"]["students"] == 40 and info["concept_prior"]["concepts"] == k
    assert info["concept_prior"]["shrink"] > 0
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert corr[~np.eye(k, dtype=bool)].mean() > 0.1  # one ability answers them all: positively correlated
    store(db, params, info)
    with db.session() as s:
        stored = s.scalars(select(DiagnosticCalibration).where(DiagnosticCalibration.active)).one()
        assert stored.params["concept_prior"] == prior and stored.fit_info["concept_prior"] == info["concept_prior"]
        assert bank.load(s, "일차방정식", None).learned == prior


def test_calibrate_command(db_url: str, db: Database, tmp_path: Path) -> None:
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path)}
    runner = CliRunner()
    empty = runner.invoke(app, ["diagnosis", "calibrate"], env=env)
    assert empty.exit_code == 1 and "no responses" in empty.output
    import_questions(db, BANK, source="ko-math")
    _answers(db, 12, "연립방정식")
    result = runner.invoke(app, ["diagnosis", "calibrate", "--min-answers", "10", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"].startswith("irt-") and data["fit_info"]["questions_fitted"] >= 10
    shown = runner.invoke(app, ["diagnosis", "calibrate", "--min-answers", "10"], env=env)
    assert shown.exit_code == 0 and "calibration irt-" in shown.output
