"""A closed-loop run directory over a simulated world: decisions, the world's outcomes under them,
and the report — shared by the coverage, CLI and browser tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from netcx import tables
from netcx.bootstrap import build_pseudonymizer
from netcx.config import MeasurementSettings, Settings
from netcx.domain.measurement.nps import nps_contribution
from netcx.domain.pseudonyms import IdKind
from netcx.services.report import measure_treatment_effects
from netcx.simulate.world import WorldFolder
from tests.unit.measurement.handmade import designed_policy

# The default settings' pseudonymizer, so `netcx report` in a subprocess joins the same ids.
PSEUDONYMIZER = build_pseudonymizer(Settings())
# Decisions here hold out half of the accounts; parsed once (the YAML policy is slow to load).
POLICY = designed_policy(0.5)
ZERO_EFFECTS = {
    "true_nps_uplift": 0.0,
    "true_churn_relative_change": 0.0,
    "true_repeat_contact_relative_change": 0.0,
    "true_asked_again_relative_change": 0.0,
}


def high_intent_first_sessions(world: WorldFolder) -> pd.DataFrame:
    """The first session of every high-intent journey: session_id, start_ms, account_id, intent
    (raw account ids) — what `decisions_for` decides on."""
    journeys = world.table("truth/journeys").to_pandas()
    journeys = journeys[journeys["high_intent"]]
    sessions = world.table("truth/sessions").to_pandas()
    hits = pq.read_table(world.path / "web" / "hits.parquet", columns=["session_id", "ts_ms"])
    starts = hits.to_pandas().groupby("session_id")["ts_ms"].min().rename("start_ms")
    return (
        sessions.merge(starts, left_on="session_id", right_index=True)
        .merge(journeys[["journey_id", "account_id", "intent"]], on="journey_id")
        .sort_values("start_ms")
        .drop_duplicates("journey_id")
    )


def decisions_for(first: pd.DataFrame, draw: int, holdout: bool | None = None) -> pa.Table:
    """One decision per row of `first` (`high_intent_first_sessions`), a minute after the
    session starts; each account held out with probability ½ (random draw `draw`), or all
    accounts held out (`holdout=True`) / none (`holdout=False`)."""
    accounts = np.sort(first["account_id"].unique())
    rng = np.random.default_rng(draw)
    held = dict(zip(accounts, rng.random(len(accounts)) < 0.5, strict=True))
    flags = [held[a] if holdout is None else holdout for a in first["account_id"]]
    n = len(first)
    return pa.table(
        {
            "decision_id": [f"d{i}" for i in range(n)],
            "ts_ms": (first["start_ms"] + 60_000).to_numpy(),
            "session_id": first["session_id"].to_numpy(),
            "visitor_id": [None] * n,
            "account_id": PSEUDONYMIZER.many(IdKind.ACCOUNT, first["account_id"].tolist()),
            "recognition": ["network_line"] * n,
            "intent": first["intent"].to_numpy(),
            "experience": ["support_high_intent"] * n,
            "reason": ["holdout:experience" if h else "eligible" for h in flags],
            "holdout": flags,
            "shown": [not h for h in flags],
        },
        schema=tables.DECISIONS,
    )


def decisions_for_high_intent_journeys(
    world: WorldFolder, draw: int, holdout: bool | None = None
) -> pa.Table:
    """One decision on the first session of every high-intent journey; holdout by account."""
    return decisions_for(high_intent_first_sessions(world), draw, holdout)


def measure_experiment(world: WorldFolder, decisions: pa.Table, run: Path) -> dict[str, Any]:
    """Closed loop under `decisions`, written as a run directory, then measured: the report's
    treated-vs-holdout measures (`nps_uplift`, `churn_difference`, …, `experiment`)."""
    write_closed_loop_run(world, decisions, run)
    return measure_treatment_effects(world, run, PSEUDONYMIZER, MeasurementSettings(), POLICY)


def write_closed_loop_run(world: WorldFolder, decisions: pa.Table, run: Path) -> None:
    """A run directory: `decisions`, the world's outcomes under them, empty upstream tables."""
    outcomes = world.outcomes_under(decisions)
    (run / "outcomes").mkdir(parents=True)
    pq.write_table(decisions, run / "decisions.parquet")
    for name in ("churn", "upgrades", "nps", "care_contacts"):
        pq.write_table(outcomes[name], run / "outcomes" / f"{name}.parquet")
    for name, schema in (
        ("resolved_hits", tables.RESOLVED_HITS),
        ("session_identity", tables.SESSION_IDENTITY),
        ("session_intents", tables.SESSION_INTENTS),
    ):
        pq.write_table(schema.empty_table(), run / f"{name}.parquet")


def unit_outcomes(world: WorldFolder, decisions: pa.Table) -> pd.DataFrame:
    """Per unit account (pseudonym) under `decisions`, as the report defines them: `churned`
    (churned after its first decision) and `nps` (NPS contribution, +100/0/−100, of its first
    survey answer after its first decision; NaN without one)."""
    first = decisions.to_pandas().groupby("account_id")["ts_ms"].min().rename("first_ms")
    outcomes = world.outcomes_under(decisions)

    def after_first(name: str, ts: str) -> pd.DataFrame:
        frame = outcomes[name].to_pandas()
        frame["account_id"] = PSEUDONYMIZER.many(IdKind.ACCOUNT, frame["account_id"].tolist())
        frame = frame.merge(first, left_on="account_id", right_index=True)
        return frame[frame[ts] >= frame["first_ms"]].sort_values(ts)

    answers = after_first("nps", "survey_ms").drop_duplicates("account_id")
    nps = answers.set_index("account_id")["score"].map(lambda s: nps_contribution(int(s)))
    return pd.DataFrame(
        {
            "churned": first.index.isin(after_first("churn", "churn_ms")["account_id"]),
            "nps": nps.reindex(first.index).astype(float),
        },
        index=first.index,
    )


def zero_effect_view(world_dir: Path, view: Path) -> WorldFolder:
    """The same world with zero true effects: links to its tables, own meta and effects."""
    for entry in ("crm", "network", "web", "outcomes"):
        (view / entry).symlink_to(world_dir / entry)
    (view / "truth").mkdir()
    for file in (world_dir / "truth").iterdir():
        if file.name != "effects.json":
            (view / "truth" / file.name).symlink_to(file)
    (view / "truth" / "effects.json").write_text(json.dumps(ZERO_EFFECTS), encoding="utf-8")
    meta = json.loads((world_dir / "meta.json").read_text(encoding="utf-8"))
    (view / "meta.json").write_text(json.dumps({**meta, **ZERO_EFFECTS}), encoding="utf-8")
    return WorldFolder(view)
