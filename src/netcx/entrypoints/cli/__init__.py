"""The `netcx` command: one Typer app assembled from one module per area."""

from __future__ import annotations

import asyncio
import signal
import sys
from importlib import import_module

import typer
from rich.console import Console

from netcx import __version__
from netcx.errors import NetcxError

# Each module exposes `register(app)`; the order is the order of `netcx --help`.
_AREAS = (
    "simulate",
    "pipeline",
    "network",
    "serve",
    "collect",
    "privacy",
    "intents",
    "decisions",
    "scale",
)

err_console = Console(stderr=True)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for long-running workers' loops."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="netcx",
        help="Network identity for telecom customer experience.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.command()
    def version() -> None:
        """Print the netcx version."""
        typer.echo(__version__)

    for area in _AREAS:
        import_module(f"netcx.entrypoints.cli.{area}").register(app)
    return app


def main() -> None:
    """Run the CLI; a NetcxError becomes one clear line on stderr and its exit code."""
    try:
        build_app()(standalone_mode=True)
    except NetcxError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
        sys.exit(err.exit_code)
