"""A run's measurement report: report.json (figures with 95 % CIs) and a report.html page."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from netcx import __version__, tables
from netcx.config import MeasurementSettings
from netcx.domain.decisions.policy import Policy
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.errors import InvalidInput, NotFound
from netcx.ports import World
from netcx.services.decisions import load_policy_file
from netcx.services.measures import (
    Arms,
    HoldoutDesign,
    RunData,
    early_research_signals,
    friction,
    negative_experiences,
    overall_arms,
    recognition_funnel,
    treatment_effects,
)
from netcx.services.report_page import render_report_html

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"

# Files of a run directory (written by `netcx run`) and their schemas.
RUN_TABLES: dict[str, pa.Schema] = {
    "resolved_hits": tables.RESOLVED_HITS,
    "session_identity": tables.SESSION_IDENTITY,
    "session_intents": tables.SESSION_INTENTS,
    "decisions": tables.DECISIONS,
    "outcomes/churn": tables.CHURN,
    "outcomes/upgrades": tables.UPGRADES,
    "outcomes/nps": tables.NPS,
    "outcomes/care_contacts": tables.CARE_CONTACTS,
}
_PSEUDONYM = re.compile(r"^[a-z]{2}\d+_[0-9a-f]{24}$")


EVALUATION_FILE = "evaluation.json"
"""Figures `netcx run` computed against ground truth and the churn model (dotted keys)."""


def read_evaluation(run_dir: Path) -> dict[str, Any]:
    """The run's stored evaluation figures, or {} when the run has none."""
    path = run_dir / EVALUATION_FILE
    return _read_json(path) if path.is_file() else {}


def read_run_table(run_dir: Path, name: str) -> pa.Table:
    """One table of a run directory, validated against its schema; errors name the file."""
    path = run_dir / f"{name}.parquet"
    if not path.is_file():
        raise NotFound(f"{path}: missing from the run directory (expected {name}.parquet)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InvalidInput(f"{path}: not a readable Parquet file: {err}") from err
    return tables.require_columns(table, RUN_TABLES[name], str(path))


def build_report(
    world: World,
    run_dir: Path,
    pseudonymizer: Pseudonymizer,
    extra: Mapping[str, Any] | None = None,
    settings: MeasurementSettings | None = None,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """The four measures of a run over its world, plus `extra` figures (dotted keys allowed).

    `extra` carries figures other stages compute (e.g. `resolution.precision`,
    `intents.macro_f1`); they are merged into the report as nested keys. The designed holdout
    shares come from the decision `policy` that made the decisions (default: the shipped one).
    """
    settings = settings or MeasurementSettings()
    design = HoldoutDesign.of(policy or load_policy_file(None))
    data, arms, truth = _experiment(world, run_dir, pseudonymizer, settings, design)
    effects = treatment_effects(data, arms, truth)
    report: dict[str, Any] = {
        "generator": {"name": "netcx report", "version": __version__},
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_dir": str(run_dir),
        "world": {"path": str(world.path), "has_truth": world.has_truth(), **_meta(world)},
        "settings": settings.model_dump(mode="json", exclude={"runs_dir"}),
        "holdout_design": {
            "universal_share": design.universal_share,
            "experience_shares": dict(design.experience_shares),
        },
        "funnel": recognition_funnel(data),
        "measures": {
            "negative_experiences_before_login_share": negative_experiences(data, settings),
            "churners_with_early_research_signal_share": early_research_signals(data, settings),
            **effects,
            "friction": friction(data, arms, truth),
        },
    }
    for key, value in (extra or {}).items():
        _merge_dotted(report, key, value)
    plain: dict[str, Any] = _plain(report)
    return plain


def measure_treatment_effects(
    world: World,
    run_dir: Path,
    pseudonymizer: Pseudonymizer,
    settings: MeasurementSettings | None = None,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """Measure 3 alone (treated vs holdout: `nps_uplift`, `churn_difference`,
    `upgrade_difference`, `experiment`), exactly as `build_report` reports it under `measures`;
    for callers that need only the experiment, such as the many-replication coverage test."""
    design = HoldoutDesign.of(policy or load_policy_file(None))
    data, arms, truth = _experiment(
        world, run_dir, pseudonymizer, settings or MeasurementSettings(), design
    )
    effects: dict[str, Any] = _plain(treatment_effects(data, arms, truth))
    return effects


def _experiment(
    world: World,
    run_dir: Path,
    pseudonymizer: Pseudonymizer,
    settings: MeasurementSettings,
    design: HoldoutDesign,
) -> tuple[RunData, Arms, dict[str, float]]:
    """The run's tables, its experiment units by arm, and the world's true effects (if any)."""
    if not run_dir.is_dir():
        raise NotFound(f"--run {run_dir}: no such run directory")
    data = _load(world, run_dir, pseudonymizer)
    return data, overall_arms(data.decisions, settings, design), read_truth(world)


def write_report(report: Mapping[str, Any], run_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into `run_dir`; returns both paths."""
    run_dir.mkdir(parents=True, exist_ok=True)
    json_path = run_dir / REPORT_JSON
    html_path = run_dir / REPORT_HTML
    json_path.write_text(
        json.dumps(report, indent=2, sort_keys=False, allow_nan=False), encoding="utf-8"
    )
    html_path.write_text(render_report_html(report), encoding="utf-8")
    return json_path, html_path


def read_truth(world: World) -> dict[str, float]:
    """True effects of a simulated world (meta.json and truth/effects.json), else empty."""
    if not world.has_truth():
        return {}
    truth: dict[str, float] = {}
    for path in (world.path / "meta.json", world.path / "truth" / "effects.json"):
        if path.is_file():
            truth.update(
                {
                    k: float(v)
                    for k, v in _read_json(path).items()
                    if k.startswith("true_") and isinstance(v, int | float)
                }
            )
    return truth


def _meta(world: World) -> dict[str, Any]:
    path = world.path / "meta.json"
    if not path.is_file():
        return {}
    meta = _read_json(path)
    return {k: meta[k] for k in ("seed", "households", "days", "generator_version") if k in meta}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InvalidInput(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from err
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a JSON object")
    return data


def _load(world: World, run_dir: Path, pseudonymizer: Pseudonymizer) -> RunData:
    run = {name: read_run_table(run_dir, name).to_pandas() for name in RUN_TABLES}

    def internal(frame: pd.DataFrame) -> pd.DataFrame:
        for column, kind in (("account_id", IdKind.ACCOUNT), ("line_id", IdKind.LINE)):
            if column in frame.columns:
                frame[column] = _internal_ids(frame[column], kind, pseudonymizer)
        return frame

    return RunData(
        resolved=run["resolved_hits"],
        sessions=run["session_identity"],
        intents=run["session_intents"],
        decisions=run["decisions"],
        churn=internal(run["outcomes/churn"]),
        upgrades=internal(run["outcomes/upgrades"]),
        nps=internal(run["outcomes/nps"]),
        contacts=internal(run["outcomes/care_contacts"]),
        accounts=internal(world.table("crm/accounts").to_pandas()),
        lines=internal(world.table("crm/lines").to_pandas()),
        outages=world.table("outcomes/outages").to_pandas(),
    )


def _internal_ids(column: pd.Series, kind: IdKind, pseudonymizer: Pseudonymizer) -> pd.Series:
    """World ids as internal pseudonyms; a column that already holds pseudonyms is kept."""
    present = column.dropna().astype(str)
    if present.empty or present.map(lambda v: bool(_PSEUDONYM.match(v))).all():
        return column
    values = pseudonymizer.many(kind, present.tolist())
    out = pd.Series([None] * len(column), index=column.index, dtype=object)
    out[present.index] = values
    return out


def _merge_dotted(report: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = report
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    leaf = parts[-1]
    if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
        for k, v in value.items():
            _merge_dotted(node[leaf], k, v)
    else:
        node[leaf] = value


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN/inf to null (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def latest_run_with_report(runs_dir: Path) -> Path | None:
    """The newest run directory holding a report.json: `runs_dir` itself or one of its children."""
    if not runs_dir.is_dir():
        return None
    candidates = [runs_dir, *(p for p in runs_dir.iterdir() if p.is_dir())]
    with_report = [p for p in candidates if (p / REPORT_JSON).is_file()]
    if not with_report:
        return None
    return max(with_report, key=lambda p: (p / REPORT_JSON).stat().st_mtime_ns)


def read_report(run_dir: Path) -> dict[str, Any]:
    """A report.json written by `write_report`."""
    return _read_json(run_dir / REPORT_JSON)
