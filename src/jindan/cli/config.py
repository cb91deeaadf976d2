"""`jindan config show`: the effective configuration, secrets masked."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import SecretStr
from rich.table import Table

from jindan.cli.context import out, settings_from
from jindan.db.engine import mask_url
from jindan.security import privacy
from jindan.settings import Settings

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


def masked(settings: Settings) -> dict[str, Any]:
    """Settings as plain data with every secret and URL password masked (safe for logs and screens)."""

    def walk(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "***" if value.get_secret_value() else ""
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return str(value) if not isinstance(value, int | float | bool | type(None)) else value

    data: dict[str, Any] = walk(dict(settings.model_dump()))
    if settings.database.url:
        data["database"]["url"] = mask_url(settings.database.url)
    return data


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{name}__"))
        else:
            rows.append((name, value))
    return rows


@app.command("show")
def show(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the effective configuration (after profile defaults, .env and JINDAN_* variables)."""
    settings = settings_from(ctx)
    data = masked(settings)
    status = privacy.status(settings)
    problems = privacy.violations(settings)
    if problems:
        status = "REFUSED AT START: " + ", ".join(sorted({f"{d.provider} ({d.host})" for d in problems}))
        status += " is external; set JINDAN_PRIVACY__ALLOW to permit it"
    if as_json:
        out.print_json(json.dumps({**data, "privacy_status": status}))
        return
    table = Table(title=f"jindan configuration (profile: {data['profile']})")
    table.add_column("JINDAN_ variable")
    table.add_column("value")
    for name, value in _flatten(data):
        table.add_row(f"JINDAN_{name.upper()}", "" if value is None else str(value))
    out.print(table)
    out.print(f"privacy: {status}", soft_wrap=True)
