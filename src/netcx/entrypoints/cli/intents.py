"""CLI commands of the intents area: `netcx churn train|score` and `netcx intents detect`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=None, sort_keys=True))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    churn_app = typer.Typer(help="Churn propensity: train on a customer table, score.")
    app.add_typer(churn_app, name="churn")

    @churn_app.command("train")
    def train(
        data: Annotated[Path, typer.Option(help="Customer table: .csv or .parquet.")],
        target: Annotated[str, typer.Option(help="Binary target column (Yes/No, 1/0, ...).")],
        id_column: Annotated[
            str | None, typer.Option("--id", help="Customer id column (not a feature).")
        ] = None,
        time_column: Annotated[
            str | None,
            typer.Option("--time", help="Prediction-date column: split by time, not at random."),
        ] = None,
        out: Annotated[Path | None, typer.Option(help="Write the model here.")] = None,
        exclude: Annotated[
            str,
            typer.Option(help="Comma-separated columns never to use (e.g. gender,SeniorCitizen)."),
        ] = "",
    ) -> None:
        """Train a calibrated gradient-boosting model; print its test metrics as one JSON line."""
        from netcx.services import churn  # scikit-learn loads only for churn commands

        excluded = tuple(c.strip() for c in exclude.split(",") if c.strip())
        metrics = churn.train_churn_model(data, target, id_column, time_column, out, excluded)
        if out is not None:
            metrics = {**metrics, "model": str(out)}
        _print_json(metrics)

    @churn_app.command("score")
    def score(
        model: Annotated[Path, typer.Option(help="A model written by `netcx churn train`.")],
        data: Annotated[Path, typer.Option(help="Customer table: .csv or .parquet.")],
        out: Annotated[
            Path | None, typer.Option(help="Write scores here (.csv/.parquet); default stdout.")
        ] = None,
    ) -> None:
        """Score every row; writes id (if the model has one) and churn_probability."""
        import pyarrow.csv as pacsv

        from netcx.services import churn

        scores = churn.score_churn(model, data)
        if out is None:
            pacsv.write_csv(scores, sys.stdout.buffer)
            return
        churn.write_table(scores, out)
        _print_json({"rows": scores.num_rows, "out": str(out)})

    intents_app = typer.Typer(help="Intent taxonomy tools.")
    app.add_typer(intents_app, name="intents")

    @intents_app.command("check")
    def check(
        taxonomy: Annotated[
            Path | None, typer.Option(help="Taxonomy YAML; default: the shipped one.")
        ] = None,
    ) -> None:
        """Validate a taxonomy file and print its intents and rule counts."""
        from netcx.services import intents

        tax = intents.load_taxonomy(taxonomy)
        counts = {name: sum(1 for r in tax.rules if r.intent == name) for name in tax.intents}
        _print_json({"threshold": tax.threshold, "intents": counts})

    @intents_app.command("evaluate")
    def evaluate(
        world: Annotated[Path, typer.Option(help="A simulated world folder (with truth/).")],
        taxonomy: Annotated[
            Path | None, typer.Option(help="Taxonomy YAML; default: the shipped one.")
        ] = None,
        out: Annotated[
            Path | None, typer.Option(help="Also write SESSION_INTENTS here (.parquet).")
        ] = None,
    ) -> None:
        """Detect session intents in a world's hits; print F1 per intent against its truth."""
        import pyarrow.parquet as pq

        from netcx.errors import InvalidInput, NotFound
        from netcx.services import intents
        from netcx.simulate.world import WorldFolder

        if not world.is_dir():
            raise NotFound(f"--world {world}: no such folder")
        folder = WorldFolder(world)
        if not folder.has_truth():
            raise InvalidInput(f"--world {world}: has no truth/ to evaluate against")
        hits = folder.table("web/hits")
        found = intents.detect_session_intents(hits, intents.load_taxonomy(taxonomy))
        if out is not None:
            pq.write_table(found, out)
        _print_json(intents.evaluate_intents(found, folder.table("truth/hits"), hits))
