"""CLI commands of the pipeline area."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from netcx.errors import InvalidInput, NotFound


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    _register_run(app)
    _register_report(app)


# ------------------------------------------------------------------ netcx run / demo


def _run(world_dir: Path, out: Path) -> dict[str, Any]:
    """Run the whole pipeline over a world folder with a progress bar; print the summary."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from netcx.bootstrap import build_pipeline_deps, open_world
    from netcx.config import load_settings
    from netcx.services.pipeline import STAGES, run_pipeline

    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out}: exists and is not a directory", field="--out")
    world = open_world(world_dir)
    deps = build_pipeline_deps(load_settings(), world, work_dir=out / ".work")
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]run[/]"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("start", total=len(STAGES))
        started: list[str] = []

        def on_stage(name: str) -> None:
            if started:
                bar.advance(task)
            started.append(name)
            bar.update(task, description=name)

        result = run_pipeline(world, out, deps, on_stage)
        bar.update(task, completed=len(STAGES), description="done")
    Console().print(summary_table(result))
    Console().print(f"wrote {out / 'report.json'} and {out / 'report.html'}")
    return result


def _register_run(app: typer.Typer) -> None:
    @app.command()
    def run(
        world: Annotated[Path, typer.Option(help="World folder (`netcx simulate --out`).")],
        out: Annotated[Path, typer.Option(help="Run folder for the tables and the report.")],
    ) -> None:
        """Resolve, recognise, detect intents, decide, close the loop and measure a world."""
        _run(world, out)

    @app.command()
    def demo(
        out: Annotated[Path, typer.Option(help="Folder for the world and the run.")] = Path(
            "demo-out"
        ),
        households: Annotated[int, typer.Option(help="Households to simulate.")] = 3000,
        days: Annotated[int, typer.Option(help="Days to simulate.")] = 14,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    ) -> None:
        """Simulate a small world into OUT/world and run the whole pipeline into OUT."""
        from netcx.entrypoints.cli.simulate import simulate_world
        from netcx.simulate.params import WorldParams

        params = WorldParams(households=households, days=days, seed=seed)
        simulate_world(params, out / "world", force=True)
        _run(out / "world", out)


# ------------------------------------------------------------------ netcx report


def _register_report(app: typer.Typer) -> None:
    @app.command()
    def report(
        run: Annotated[
            Path, typer.Option("--run", help="Run directory written by `netcx run` (OUT).")
        ],
        world: Annotated[
            Path | None,
            typer.Option(help="World folder of the run (default: the `world` in OUT/run.json)."),
        ] = None,
    ) -> None:
        """Measure the run: write OUT/report.json and a self-contained OUT/report.html."""
        from netcx.bootstrap import build_container
        from netcx.config import load_settings
        from netcx.services.decisions import load_policy_file
        from netcx.services.report import build_report, read_evaluation, write_report
        from netcx.simulate.world import WorldFolder

        console = Console()
        if not run.is_dir():
            raise NotFound(f"--run {run}: no such run directory")
        world_dir = world or _world_of_run(run)
        container = build_container(load_settings())
        world_folder = WorldFolder(world_dir)
        with console.status("Measuring the run…"):
            result = build_report(
                world_folder,
                run,
                container.pseudonymizer,
                read_evaluation(run),
                container.settings.measurement,
                load_policy_file(container.settings.decisions.policy_file),
            )
            json_path, html_path = write_report(result, run)
        console.print(summary_table(result))
        console.print(f"wrote {json_path} and {html_path}")


def _world_of_run(run: Path) -> Path:
    manifest = run / "run.json"
    if not manifest.is_file():
        raise NotFound(f"{manifest}: not found; pass --world DIR")
    try:
        world = json.loads(manifest.read_text(encoding="utf-8")).get("world")
    except json.JSONDecodeError as err:
        raise InvalidInput(f"{manifest}:{err.lineno}: not valid JSON: {err.msg}") from err
    if not isinstance(world, str):
        raise InvalidInput(f'{manifest}: no "world" path; pass --world DIR')
    return Path(world)


def summary_table(report: dict[str, Any]) -> Table:
    """The headline figures of a report as a terminal table."""
    m = report["measures"]
    table = Table(title="netcx measurement")
    for column in ("measure", "value", "95 % CI", "note"):
        table.add_column(column)

    def ci(block: dict[str, Any], scale: float, fmt: str) -> str:
        low, high = block.get("ci95") or (None, None)
        if low is None or high is None:
            return "n/a"
        return f"{format(low * scale, fmt)} … {format(high * scale, fmt)}"

    def val(x: Any, scale: float, fmt: str) -> str:
        return "n/a" if x is None else format(x * scale, fmt)

    neg = m["negative_experiences_before_login_share"]
    sig = m["churners_with_early_research_signal_share"]
    nps = m["nps_uplift"]
    churn = m["churn_difference"]
    fr = m["friction"]
    median = sig.get("lead_time_days_median")
    table.add_row(
        "negative experiences begun before login",
        val(neg["value"], 100, ".1f") + " %",
        ci(neg, 100, ".1f"),
        f"n = {neg['n']}",
    )
    table.add_row(
        "churners with early research signal",
        val(sig["value"], 100, ".1f") + " %",
        ci(sig, 100, ".1f"),
        "median lead " + ("n/a" if median is None else f"{median:.1f} d"),
    )
    truth = nps.get("true_effect")
    table.add_row(
        "NPS uplift (points)",
        val(nps["value"], 1, "+.1f"),
        ci(nps, 1, "+.1f"),
        "" if truth is None else f"true {truth:+.1f}",
    )
    table.add_row(
        "churn rate difference (pp)", val(churn["value"], 100, "+.2f"), ci(churn, 100, "+.2f"), ""
    )
    table.add_row(
        "repeat contacts ≤ 7 d, treated / holdout",
        f"{val(fr['repeat_contact_rate_treated'], 100, '.1f')} % / "
        f"{val(fr['repeat_contact_rate_holdout'], 100, '.1f')} %",
        "",
        "",
    )
    return table
