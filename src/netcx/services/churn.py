"""Churn use cases: train/score on any customer table, and evaluate on a simulated world."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from netcx.domain.churn.model import ChurnModel, train_and_evaluate
from netcx.errors import InvalidInput, NotFound

MODEL_FORMAT = "netcx-churn-model/1"
_CSV = (".csv", ".csv.gz", ".txt")
_PARQUET = (".parquet", ".pq")


# ---------------------------------------------------------------- any customer table


def read_customer_table(path: Path) -> pa.Table:
    """A CSV (comma, with header) or Parquet file as a table; errors name the file."""
    if not path.is_file():
        raise NotFound(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith(_CSV):
            return pacsv.read_csv(path)
        if name.endswith(_PARQUET):
            return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InvalidInput(f"{path}: cannot read: {err}") from err
    raise InvalidInput(
        f"{path}: unknown file type {path.suffix or '(none)'!r}; "
        f"use {', '.join((*_CSV, *_PARQUET))}"
    )


def write_table(table: pa.Table, path: Path) -> None:
    """Write scores as CSV or Parquet, chosen by the file name."""
    name = path.name.lower()
    if name.endswith(_PARQUET):
        pq.write_table(table, path)
    elif name.endswith(".csv"):
        pacsv.write_csv(table, path)
    else:
        raise InvalidInput(f"{path}: unknown output type; use .csv or .parquet")


def train_churn_model(
    data: Path,
    target: str,
    id_column: str | None = None,
    time_column: str | None = None,
    out: Path | None = None,
) -> dict[str, Any]:
    """Train on the table in `data`; write the model to `out`; return the metrics."""
    table = read_customer_table(data)
    model = train_and_evaluate(table, target, id_column, time_column, source=str(data))
    if out is not None:
        save_model(model, out)
    return model.metrics


def score_churn(model_path: Path, data: Path) -> pa.Table:
    """Churn probabilities for every row of `data` (with the id column if the model has one)."""
    model = load_model(model_path)
    table = read_customer_table(data)
    p = model.predict(table, source=str(data))
    columns: dict[str, Any] = {}
    if model.id_column is not None:
        if model.id_column not in table.column_names:
            raise InvalidInput(f"{data}: missing id column {model.id_column!r}")
        columns[model.id_column] = table.column(model.id_column)
    columns["churn_probability"] = pa.array(p, type=pa.float64())
    return pa.table(columns)


def save_model(model: ChurnModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump({"format": MODEL_FORMAT, "model": model}, f, protocol=5)


def load_model(path: Path) -> ChurnModel:
    """Load a model written by `save_model` (a pickle: load only models you trained)."""
    if not path.is_file():
        raise NotFound(f"{path}: no such model file")
    try:
        with path.open("rb") as f:
            payload = pickle.load(f)  # noqa: S301 - our own model files, see docs/model-card.md
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as err:
        raise InvalidInput(f"{path}: not a netcx churn model ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise InvalidInput(f"{path}: not a netcx churn model (format {MODEL_FORMAT} expected)")
    model = payload["model"]
    if not isinstance(model, ChurnModel):
        raise InvalidInput(f"{path}: not a netcx churn model")
    return model
