"""`jindan db upgrade|downgrade|current`: schema migrations (Alembic)."""

from __future__ import annotations

import typer

from jindan.cli.context import console, open_db, settings_from
from jindan.db import migrations

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context, revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    with open_db(settings_from(ctx), schema=False) as db:
        migrations.upgrade(db.engine, revision)
        console.print(f"[green]Schema at {migrations.current(db.engine)}[/green] ({db.masked_url})")


@app.command()
def downgrade(ctx: typer.Context, revision: str = typer.Argument("-1", help="Target revision, or 'base'.")) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    with open_db(settings_from(ctx), schema=False) as db:
        migrations.downgrade(db.engine, revision)
        console.print(f"[yellow]Schema at {migrations.current(db.engine) or 'base (empty)'}[/yellow]")


@app.command()
def current(ctx: typer.Context) -> None:
    """Show the applied revision and the newest one."""
    with open_db(settings_from(ctx), schema=False) as db:
        console.print(f"applied: {migrations.current(db.engine) or 'none'}; newest: {migrations.head()}")
