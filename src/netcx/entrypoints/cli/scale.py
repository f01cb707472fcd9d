"""CLI commands of the scale-out area: `netcx db migrate|status`."""

from __future__ import annotations

import typer

from netcx.bootstrap import build_postgres
from netcx.config import load_settings


def register(app: typer.Typer) -> None:
    """Add `netcx db ...` to the main app."""
    db = typer.Typer(help="The PostgreSQL durable stores.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("migrate")
    def migrate() -> None:
        """Apply pending schema migrations to `scale.postgres.url` (safe to run concurrently)."""
        pg = build_postgres(load_settings())
        try:
            applied = pg.migrate()
            typer.echo(
                f"applied={','.join(map(str, applied)) or '-'} schema_version={pg.schema_version()}"
            )
        finally:
            pg.close()
