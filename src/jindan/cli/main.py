"""Entry point of the `jindan` command."""

from __future__ import annotations

import os

import typer

from jindan import __version__
from jindan.cli import (
    adaptive,
    answers,
    auth,
    bench,
    compare,
    config,
    db,
    diagnosis,
    doctor,
    importing,
    legacy,
    llm,
    migrate,
    rag,
    report,
    search,
    serve,
    structured,
    warm,
)
from jindan.cli.context import load_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download weights at run time

app = typer.Typer(
    help="jindan (진단): local-first AI for a Korean learning-diagnosis platform.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
app.add_typer(config.app, name="config")
app.add_typer(auth.app, name="auth")
app.add_typer(db.app, name="db")
app.add_typer(importing.app, name="import")
app.add_typer(llm.models_app, name="models")
app.add_typer(bench.app, name="bench")
app.add_typer(report.app, name="report")
app.add_typer(search.index_app, name="index")
app.add_typer(search.eval_app, name="eval")
app.command("search")(search.search)
app.command("explain")(rag.explain)
app.command("hint")(rag.hint)
app.command("ask")(rag.ask)
app.add_typer(diagnosis.app, name="diagnosis")
app.add_typer(migrate.app, name="migrate")
app.add_typer(legacy.app, name="legacy")
search.eval_app.command("diagnosis")(diagnosis.eval_diagnosis)
search.eval_app.command("answers")(answers.eval_answers)
search.eval_app.command("adaptive")(adaptive.eval_adaptive)
diagnosis.app.command("calibrate")(adaptive.calibrate)
search.eval_app.command("structured")(structured.eval_structured)
app.command("serve")(serve.serve)
app.command("warm")(warm.warm)
app.command("chat")(llm.chat)
app.command("doctor")(doctor.doctor)
app.command("compare")(compare.compare)
app.command("cost")(compare.cost)


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="embedded | local | legacy (overrides JINDAN_PROFILE)."
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = load_settings(profile)


if __name__ == "__main__":
    app()
