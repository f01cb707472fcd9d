"""Churn use cases: train/score on any customer table, and evaluate on a simulated world."""

from __future__ import annotations

import json
import math
import pickle
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from netcx.domain.churn import features
from netcx.domain.churn.features import DAY_MS
from netcx.domain.churn.model import (
    ChurnModel,
    churn_metrics,
    encode,
    fit,
    infer_plan,
    predict_proba,
    train_and_evaluate,
)
from netcx.domain.intents.scoring import Evidence
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.errors import InvalidInput, NotFound
from netcx.ports import World

MODEL_FORMAT = "netcx-churn-model/1"
_evidence_list = msgspec.json.Decoder(list[Evidence])
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
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Train on the table in `data`; write the model to `out`; return the metrics."""
    table = read_customer_table(data)
    model = train_and_evaluate(
        table, target, id_column, time_column, source=str(data), exclude=exclude
    )
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


# ---------------------------------------------------------------- a simulated (or real) world

HORIZON_DAYS = 30  # the headline: churn within 30 days of the prediction date...
SHORT_HORIZON_DAYS = 14  # also reported: the next two weeks, where CX can still act
SNAPSHOT_STEP_DAYS = 7  # training snapshots at most a week apart...
MIN_HISTORY_DAYS = 14  # ...each with at least two weeks of history before it
MAX_TRAIN_ROWS = 400_000


def evaluate_churn_on_world(
    world: World,
    session_intents: pa.Table,
    session_identity: pa.Table,
    pseudonymizer: Pseudonymizer,
) -> dict[str, float]:
    """Churn model on a world: AUC with and without pre-login web signals, lift, lead time.

    Prediction dates are snapshots; the label is churn within the horizon after the date.
    The test snapshot is the last web day; training snapshots end a horizon before it
    (as far back as the data goes), so no training label is from the test period and
    every feature is from before its snapshot. The horizon follows the world's length:
    min(30, days // 2) days (`churn.horizon_days`), so a two-week world still trains;
    `_h14` keys repeat AUCs for min(14, horizon) days.
    """
    start_ms, end_ms, outcome_end_ms = _period(world, session_identity)
    days = max(1, (end_ms - start_ms) // DAY_MS)
    horizon_days = max(1, min(HORIZON_DAYS, days // 2))
    data = _WorldData(
        lines=_crm_lines(world, pseudonymizer),
        churn_at=_churn_times(world, pseudonymizer),
        care=_care_timelines(world, pseudonymizer),
        outages=features.timelines(
            (r["area_id"], r["start_ms"], "outage", r["end_ms"])
            for r in world.table("outcomes/outages").to_pylist()
        ),
        web=_web_timelines(session_intents, session_identity),
    )
    result = _evaluate_horizon(data, start_ms, end_ms, outcome_end_ms, horizon_days, "")
    short_days = min(SHORT_HORIZON_DAYS, horizon_days)
    short = _evaluate_horizon(data, start_ms, end_ms, outcome_end_ms, short_days, "_h14")
    result.update({k: v for k, v in short.items() if k.startswith(("churn.auc", "churn.test_"))})
    result.update(_lead_times(data, start_ms))
    if world.has_truth():
        result["churn.truth_research_visible_share"] = _truth_visible_research(
            world, end_ms, horizon_days
        )
    return result


@dataclass(frozen=True)
class _WorldData:
    lines: dict[str, features.Line]
    churn_at: dict[str, int]
    care: dict[str, features.Timeline]
    outages: dict[str, features.Timeline]
    web: tuple[dict[str, features.Timeline], dict[str, features.Timeline]]


def _evaluate_horizon(
    data: _WorldData,
    start_ms: int,
    end_ms: int,
    outcome_end_ms: int,
    horizon_days: int,
    suffix: str,
) -> dict[str, float]:
    horizon = min(horizon_days * DAY_MS, max(outcome_end_ms - end_ms, DAY_MS))
    test_at = min(end_ms, outcome_end_ms - horizon)
    train_at: list[int] = []
    t = test_at - horizon
    days = (end_ms - start_ms) // DAY_MS
    # two weeks of history before a training snapshot (a quarter of a shorter world), and
    # about eight snapshots in the remaining time: weekly on long worlds, daily on short ones
    history_days = min(MIN_HISTORY_DAYS, max(1, days // 4))
    room_days = (test_at - horizon - start_ms) // DAY_MS - history_days
    step_days = int(min(SNAPSHOT_STEP_DAYS, max(1, room_days // 8)))
    # the most recent snapshots first, as many as keep the training set to a size that
    # fits in minutes on one core (a 100k-household world has ~200k lines per snapshot)
    max_snapshots = max(1, MAX_TRAIN_ROWS // max(1, len(data.lines)))
    while t >= start_ms + history_days * DAY_MS and len(train_at) < max_snapshots:
        train_at.append(t)
        t -= step_days * DAY_MS
    by_line, by_household = data.web

    def snapshot(at_ms: int) -> tuple[list[dict[str, Any]], list[int]]:
        rows, labels = [], []
        for line in data.lines.values():
            churned = data.churn_at.get(line.line_id)
            if line.contract_start_ms > at_ms or (churned is not None and churned <= at_ms):
                continue
            row = features.crm_features(line, at_ms, data.care, data.outages)
            row.update(features.web_features(line, at_ms, by_line, by_household))
            rows.append(row)
            labels.append(int(churned is not None and churned <= at_ms + horizon))
        return rows, labels

    train_rows: list[dict[str, Any]] = []
    train_y: list[int] = []
    for at in train_at:
        rows, labels = snapshot(at)
        train_rows += rows
        train_y += labels
    test_rows, test_y = snapshot(test_at)
    result: dict[str, float] = {
        f"churn.horizon_days{suffix}": horizon / DAY_MS,
        f"churn.n_train{suffix}": float(len(train_y)),
        f"churn.n_test{suffix}": float(len(test_y)),
        f"churn.train_snapshots{suffix}": float(len(train_at)),
        f"churn.test_churners{suffix}": float(sum(test_y)),
    }
    if len(set(train_y)) < 2 or len(set(test_y)) < 2:
        # too small a world to fit or to measure: say so with NaNs instead of failing the run
        for key in ("auc", "auc_crm_only", "pr_auc", "top_decile_lift", "auc_uplift"):
            result[f"churn.{key}{suffix}"] = math.nan
        return result
    y_train, y_test = np.array(train_y), np.array(test_y)
    train_tab, test_tab = pa.Table.from_pylist(train_rows), pa.Table.from_pylist(test_rows)
    crm_only = [c for c in train_tab.column_names if not c.startswith("web_")]
    with_web = _fit_and_measure(train_tab, y_train, test_tab, y_test)
    without = _fit_and_measure(train_tab.select(crm_only), y_train, test_tab, y_test)
    result.update(
        {
            f"churn.auc{suffix}": with_web["auc"],
            f"churn.auc_crm_only{suffix}": without["auc"],
            f"churn.auc_uplift{suffix}": with_web["auc"] - without["auc"],
            f"churn.pr_auc{suffix}": with_web["pr_auc"],
            f"churn.pr_auc_crm_only{suffix}": without["pr_auc"],
            f"churn.top_decile_lift{suffix}": with_web["top_decile_lift"],
            f"churn.top_decile_lift_crm_only{suffix}": without["top_decile_lift"],
            f"churn.base_rate{suffix}": with_web["base_rate"],
            f"churn.brier{suffix}": with_web["brier"],
            f"churn.calibration_ece{suffix}": with_web["calibration"]["ece"],
        }
    )
    return result


def _truth_visible_research(world: World, end_ms: int, horizon_days: int) -> float:
    """Ground truth ceiling: share of the test churners whose (latent) churn research had
    started before the prediction date — no model can see more than this from the web."""
    research: dict[str, int] = {}
    for j in world.table("truth/journeys").to_pylist():
        if j["intent"] == "churn_research" and j["line_id"] is not None:
            research[j["line_id"]] = min(research.get(j["line_id"], j["start_ms"]), j["start_ms"])
    test = [
        c
        for c in world.table("outcomes/churn").to_pylist()
        if end_ms < c["churn_ms"] <= end_ms + horizon_days * DAY_MS
    ]
    if not test:
        return math.nan
    return sum(research.get(c["line_id"], end_ms) < end_ms for c in test) / len(test)


def _fit_and_measure(
    train: pa.Table, y_train: np.ndarray, test: pa.Table, y_test: np.ndarray
) -> dict[str, Any]:
    plan = infer_plan(train, exclude=())
    estimator = fit(plan, encode(plan, train), y_train)
    return churn_metrics(y_test, predict_proba(estimator, encode(plan, test)))


def _period(world: World, session_identity: pa.Table) -> tuple[int, int, int]:
    """(first web day, last web day, end of observed outcomes) in ms."""
    meta_file = world.path / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        end = int(meta["end_ms"])
        return int(meta["start_ms"]), end, int(meta.get("outcome_end_ms", end))
    if session_identity.num_rows == 0:
        raise InvalidInput("cannot tell the world's period: no meta.json and no sessions")
    start = int(pc.min(session_identity["start_ms"]).as_py())
    end = int(pc.max(session_identity["end_ms"]).as_py())
    return start, end, end


def _crm_lines(world: World, ps: Pseudonymizer) -> dict[str, features.Line]:
    segment = {r["account_id"]: r["segment"] for r in world.table("crm/accounts").to_pylist()}
    has_fixed = {
        r["household_id"]: bool(r["has_fixed"]) for r in world.table("crm/households").to_pylist()
    }
    rows = world.table("crm/lines").to_pylist()
    per_household: dict[str, int] = {}
    for r in rows:
        per_household[r["household_id"]] = per_household.get(r["household_id"], 0) + 1
    out = {}
    for r in rows:
        line_id = ps.pseudonym(IdKind.LINE, r["line_id"])
        out[line_id] = features.Line(
            line_id=line_id,
            household_id=ps.pseudonym(IdKind.HOUSEHOLD, r["household_id"]),
            account_id=ps.pseudonym(IdKind.ACCOUNT, r["account_id"]),
            kind=r["kind"] or "",
            tariff=r["tariff"] or "",
            device_model=r["device_model"] or "",
            monthly_charge_eur=float(r["monthly_charge_eur"] or 0.0),
            contract_start_ms=int(r["contract_start_ms"] or 0),
            contract_end_ms=int(r["contract_end_ms"] or 0),
            area_id=r["area_id"] or "",
            segment=segment.get(r["account_id"]) or "",
            household_lines=per_household[r["household_id"]],
            has_fixed=has_fixed.get(r["household_id"], False),
        )
    return out


def _churn_times(world: World, ps: Pseudonymizer) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in world.table("outcomes/churn").to_pylist():
        line = ps.pseudonym(IdKind.LINE, r["line_id"])
        out[line] = min(out.get(line, r["churn_ms"]), r["churn_ms"])
    return out


def _care_timelines(world: World, ps: Pseudonymizer) -> dict[str, features.Timeline]:
    """Care contacts keyed by line pseudonym, or by account pseudonym when not about a line."""
    return features.timelines(
        (
            ps.pseudonym(IdKind.LINE, r["line_id"])
            if r["line_id"]
            else ps.pseudonym(IdKind.ACCOUNT, r["account_id"]),
            r["ts_ms"],
            r["reason"] or "other",
            r["ts_ms"],
        )
        for r in world.table("outcomes/care_contacts").to_pylist()
    )


def _web_timelines(
    session_intents: pa.Table, session_identity: pa.Table
) -> tuple[dict[str, features.Timeline], dict[str, features.Timeline]]:
    """Emerged session intents on the timelines of the recognised line and household.

    A session that was not recognised itself still counts for the line/household its
    visitor (cookie / app install) was recognised as in another session: the identity
    graph's visitor edge, the most frequent one when a visitor was seen as several.
    """
    ident = session_identity.select(["session_id", "visitor_id", "line_id", "household_id"])
    rows = ident.to_pydict()
    who: dict[str, tuple[str | None, str | None]] = {}
    seen_as: dict[str, Counter[tuple[str | None, str | None]]] = defaultdict(Counter)
    for sid, visitor, line, hh in zip(*rows.values(), strict=True):
        if line is not None or hh is not None:
            who[sid] = (line, hh)
            if visitor is not None:
                seen_as[visitor][(line, hh)] += 1
    for sid, visitor in zip(rows["session_id"], rows["visitor_id"], strict=True):
        if sid not in who and visitor in seen_as:
            who[sid] = seen_as[visitor].most_common(1)[0][0]
    on_line, on_household = [], []
    data = session_intents.select(["session_id", "intent", "emerged_ms", "evidence"]).to_pydict()
    for sid, intent, emerged, evidence in zip(*data.values(), strict=True):
        if emerged is None or sid not in who:
            continue
        # the intent, and each topic of it the session touched (porting, competitor, ...)
        kinds = [intent, *dict.fromkeys(f"topic:{t}" for t in _topics(evidence))]
        line, hh = who[sid]
        for kind in kinds:
            if line is not None:
                on_line.append((line, emerged, kind, emerged))
            if hh is not None:
                on_household.append((hh, emerged, kind, emerged))
    return features.timelines(on_line), features.timelines(on_household)


def _topics(evidence_json: str) -> list[str]:
    return [e.topic for e in _evidence_list.decode(evidence_json) if e.topic]


def _lead_times(data: _WorldData, start_ms: int) -> dict[str, float]:
    """For churners during the observed period: days from first research signal to churn."""
    by_line, by_household = data.web
    leads, churners = [], 0
    for line_id, churned in data.churn_at.items():
        line = data.lines.get(line_id)
        if line is None or churned <= start_ms:
            continue
        churners += 1
        first = features.first_research_ms(line, churned, by_line, by_household)
        if first is not None:
            leads.append((churned - first) / DAY_MS)
    return features.lead_time_summary(leads, churners)
