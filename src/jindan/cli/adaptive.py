"""`jindan diagnosis calibrate` and `jindan eval adaptive`: what the diagnostic test (진단평가) stands on."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from jindan.cli.context import cannot, console, open_db, out, settings_from


def calibrate(
    ctx: typer.Context,
    min_answers: int = typer.Option(30, min=1, help="Answers a question needs for its own difficulty."),
    min_2pl: int = typer.Option(200, min=2, help="Answers an item needs for a discrimination (2PL)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Fit question and concept difficulties (1PL, 2PL where data allow) with standard errors; make them active."""
    from jindan.diagnosis.calibration import calibrate as run
    from jindan.diagnosis.calibration import store

    with open_db(settings_from(ctx)) as db, console.status("calibrating") as status:
        try:
            params, info = run(db, min_answers=min_answers, min_2pl=min_2pl, progress=status.update)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        version = store(db, params, info)
    if as_json:
        out.print_json(json.dumps({"version": version, "fit_info": info, **params}, ensure_ascii=False))
        return
    console.print(
        f"[green]calibration {version}[/green]: {info['concepts']} concepts, {info['questions_fitted']} questions "
        f"with their own difficulty, {info['questions_from_level']} from level and concept, {info['two_pl']} with a "
        f"discrimination; {info['fit_s']} s"
    )
    cp = info["concept_prior"]
    console.print(
        f"concept prior: {cp['concepts']} concepts from {cp['students']} students' first answers "
        f"(shrinkage {cp['shrink']:g} students"
        + (f", mean correlation {cp['mean_correlation']:.2f})" if "mean_correlation" in cp else "; too few to fit)")
    )
    table = Table(title="hardest concepts (difficulty ± standard error, logits)")
    for col in ("concept", "difficulty", "discrimination", "answers"):
        table.add_column(col)
    hardest = sorted(params["concepts"].items(), key=lambda kv: -kv[1]["difficulty"])[:10]
    for cid, c in hardest:
        a = "" if c["discrimination_se"] is None else f"{c['discrimination']:.2f} ± {c['discrimination_se']:.2f}"
        table.add_row(cid, f"{c['difficulty']:+.2f} ± {c['se']:.2f}", a, str(c["answers"]))
    console.print(table)


def eval_adaptive(
    train: Path = typer.Option(..., exists=True, dir_okay=False, help="pyKT CSV to fit the prior on."),
    test: Path = typer.Option(..., exists=True, dir_okay=False, help="pyKT CSV of the students to replay."),
    test_fold: int | None = typer.Option(None, help="Same file for both: this fold is TEST, the rest TRAIN."),
    sample: int | None = typer.Option(None, min=1, help="Replay this many test students (seeded sample)."),
    drop_fold: list[int] = typer.Option(
        [], help="Leave this fold out of TRAIN and TEST (repeatable): choose settings without the final test fold."
    ),
    target: list[float] = typer.Option(
        [0.2, 0.3, 0.4], min=0.05, max=0.99, help="Target confidence(s) for questions-to-target (repeatable)."
    ),
    seed: int = typer.Option(0),
    random_orders: int = typer.Option(
        5, min=1, help="Random orders replayed; the random policy reports their mean (and lowest / highest AUC)."
    ),
    tries: int = typer.Option(
        3, min=1, max=5, help="Answers per concept in the pool (1: first answers only, the sessions' prior)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Replay held-out students through adaptive, random and fixed-order tests: AUC and log-loss after k questions."""
    from jindan.evaluation.adaptive import evaluate
    from jindan.evaluation.diagnosis import read_sides

    with cannot("replay"):
        tr, te = read_sides(train, test, test_fold, set(drop_fold))
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"fitting the prior on {len(tr):,} students", total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description="replaying held-out students")

        result = evaluate(
            tr, te, tries=tries, sample=sample, targets=target, seed=seed, random_orders=random_orders, progress=step
        )
    if not result["students"]:
        console.print("[red]cannot replay: no held-out student answered two concepts or more[/red]")
        raise typer.Exit(1)
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table(title=f"{result['students']} held-out students: AUC / log-loss of the unrevealed answers")
    table.add_column("policy")
    for k in result["policies"]["adaptive"]["by_k"]:
        table.add_column(f"k={k}")
    table.caption = f"random: the mean of {result['policies']['random']['orders']} orders"
    for name, p in result["policies"].items():
        table.add_row(name, *(f"{v['auc']:.3f}/{v['logloss']:.3f}" for v in p["by_k"].values()))
    out.print(table)
    goal = result["adaptive_10_against_random_20"]
    verdict = "as accurate" if goal["as_accurate"] else "less accurate"
    out.print(
        f"adaptive with 10 questions against random with 20: AUC {goal['auc']:+.4f}, "
        f"log-loss {goal['logloss']:+.4f} ({verdict})"
    )
    reach = Table(title="questions until every concept reaches the target confidence (share that reached it)")
    reach.add_column("policy")
    for t in target:
        reach.add_column(f"target {t}")
    for name, p in result["policies"].items():
        reach.add_row(name, *(f"{v['mean_questions']} ({v['reached']:.0%})" for v in p["to_target"].values()))
    out.print(reach)
