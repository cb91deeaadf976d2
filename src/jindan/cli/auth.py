"""`jindan auth`: service keys for the platform's backend and operators, and platform-style JWTs."""

from __future__ import annotations

import typer
from rich.table import Table

from jindan.cli.context import console, open_db, out, settings_from
from jindan.security.identities import InvalidCredentials, issue
from jindan.security.keys import KeyStore
from jindan.security.principal import KEY_ROLES, USER_ROLES
from jindan.security.secrets import AuthConfigError, KeyMaterial, resolve
from jindan.settings import Settings

app = typer.Typer(help="Service keys and tokens.", no_args_is_help=True)
key_app = typer.Typer(help="Service keys (only a hash is stored; the key is printed once).", no_args_is_help=True)
app.add_typer(key_app, name="key")


def _material(settings: Settings) -> KeyMaterial:
    try:
        return resolve(settings)
    except AuthConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@key_app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Option(..., help="Who uses the key, e.g. platform-backend or ops-kim."),
    role: str = typer.Option("service", help=f"{' | '.join(KEY_ROLES)}"),
) -> None:
    """Create a key and print it once (stdout); store it in the caller's secret store."""
    settings = settings_from(ctx)
    material = _material(settings)
    with open_db(settings) as db:
        try:
            key = KeyStore(db, material.pepper).create(name, role)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    console.print(f"key {name!r} ({role}) created; it is shown only now:")
    out.print(key, soft_wrap=True)


@key_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Keys with their role, creation, last use and revocation (never the keys themselves)."""
    settings = settings_from(ctx)
    material = _material(settings)
    with open_db(settings) as db:
        keys = KeyStore(db, material.pepper).list()
    table = Table(title="service keys")
    for col in ("id", "name", "role", "created", "last used", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            k.id,
            k.name,
            k.role,
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-",
        )
    out.print(table)


@key_app.command("revoke")
def revoke(ctx: typer.Context, key: str = typer.Argument(..., help="The key's name or id.")) -> None:
    """Revoke a key: a running service refuses it within seconds."""
    settings = settings_from(ctx)
    material = _material(settings)
    with open_db(settings) as db:
        done = KeyStore(db, material.pepper).revoke(key)
    if not done:
        console.print(f"[red]no active key named {key!r}[/red]")
        raise typer.Exit(1)
    console.print(f"key {key!r} revoked")


@app.command("token")
def token(
    ctx: typer.Context,
    user: str = typer.Option(..., help="The platform's user id (becomes `sub`; the user is created on first use)."),
    role: str = typer.Option("student", help=" | ".join(USER_ROLES)),
    ttl: int = typer.Option(3600, min=60, max=30 * 86400, help="Lifetime in seconds."),
    name: str | None = typer.Option(None, help="Display name claim."),
) -> None:
    """Print a JWT signed with the configured HS256 secret, as the platform would issue it."""
    settings = settings_from(ctx)
    if role not in USER_ROLES:
        console.print(f"[red]role must be one of {', '.join(USER_ROLES)}[/red]")
        raise typer.Exit(2)
    try:
        out.print(issue(settings, _material(settings), user, role, ttl, name), soft_wrap=True)
    except InvalidCredentials as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
