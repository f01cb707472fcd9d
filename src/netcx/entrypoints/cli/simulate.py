"""CLI commands of the simulate area: `netcx simulate`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from netcx.errors import InvalidInput
from netcx.simulate.generate import STEPS, generate_world
from netcx.simulate.params import WorldParams

# What a world folder consists of (removed by --force before writing again).
WORLD_ENTRIES = ("meta.json", "crm", "network", "web", "outcomes", "truth")


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out}: exists and is not a directory", field="--out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise InvalidInput(
                f"{out}: directory is not empty (pass --force to overwrite a world there)",
                field="--out",
            )
        for name in WORLD_ENTRIES:
            entry = out / name
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry.exists():
                entry.unlink()
    parent = out if out.exists() else next(p for p in out.parents if p.exists())
    if not parent.is_dir():
        raise InvalidInput(f"{parent}: is not a directory", field="--out")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInput(f"{parent}: not writable", field="--out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".netcx-write-test"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise InvalidInput(f"{out}: not writable ({err.strerror})", field="--out") from err


def simulate_world(params: WorldParams, out: Path, *, force: bool) -> None:
    """Write a world with a progress bar and print its row counts (also used by `demo`)."""
    _prepare_out(out, force)
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]simulate[/]"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("start", total=STEPS)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=name)

        counts = generate_world(params, out, step)
    summary = Table(title=f"world written to {out}")
    summary.add_column("table")
    summary.add_column("rows", justify="right")
    for name, rows in counts.items():
        summary.add_row(name, f"{rows:,}")
    Console().print(summary)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def simulate(
        out: Annotated[Path, typer.Option(help="World folder to write (new or empty).")],
        households: Annotated[int, typer.Option(help="Number of households (accounts).")] = 2000,
        days: Annotated[int, typer.Option(help="Days of network and web traffic.")] = 14,
        seed: Annotated[int, typer.Option(help="Random seed; same seed, same bytes.")] = 1,
        interim_interval_s: Annotated[
            int, typer.Option(help="Acct-Interim-Interval of every NAS, seconds.")
        ] = WorldParams.interim_interval_s,
        true_nps_uplift: Annotated[
            float, typer.Option(help="True NPS points for supported high-intent journeys.")
        ] = WorldParams.true_nps_uplift,
        true_churn_relative_change: Annotated[
            float, typer.Option(help="True relative change of churn of supported churn journeys.")
        ] = WorldParams.true_churn_relative_change,
        true_repeat_contact_relative_change: Annotated[
            float, typer.Option(help="True relative change of repeat contacts when supported.")
        ] = WorldParams.true_repeat_contact_relative_change,
        true_asked_again_relative_change: Annotated[
            float, typer.Option(help="True relative change of 'asked again' when supported.")
        ] = WorldParams.true_asked_again_relative_change,
        force: Annotated[bool, typer.Option(help="Overwrite a world already in --out.")] = False,
    ) -> None:
        """Simulate a telco world with ground truth into a world folder (docs/world.md)."""
        params = WorldParams(
            households=households,
            days=days,
            seed=seed,
            interim_interval_s=interim_interval_s,
            true_nps_uplift=true_nps_uplift,
            true_churn_relative_change=true_churn_relative_change,
            true_repeat_contact_relative_change=true_repeat_contact_relative_change,
            true_asked_again_relative_change=true_asked_again_relative_change,
        )
        simulate_world(params, out, force=force)
