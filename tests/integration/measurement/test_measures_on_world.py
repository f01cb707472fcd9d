"""Measures 1 and 2 on a simulated world, with identity and intents taken from ground truth.

With an oracle upstream (every attributable session recognised as its true account, its true
intent detected at its first hit), the report's figures must equal the same definitions
counted independently, row by row, from the world's truth and outcome tables.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from netcx import tables
from netcx.config import MeasurementSettings
from netcx.domain.pseudonyms import IdKind
from netcx.services.report import build_report
from netcx.simulate.generate import generate_world
from netcx.simulate.params import WorldParams
from netcx.simulate.world import WorldFolder
from tests.integration.measurement.closed_loop import PSEUDONYMIZER

DAY_MS = 86_400_000


def _oracle_run(world: WorldFolder, run: Path) -> pd.DataFrame:
    """Run tables from truth; returns the per-session frame (raw account ids) it wrote."""
    hits = world.table("web/hits").to_pandas()
    truth = world.table("truth/hits").to_pandas()
    both = hits.merge(truth[["hit_id", "true_account_id", "attributable_level"]], on="hit_id")
    both["account"] = both["true_account_id"].where(both["attributable_level"] != "none")
    login = both[both["event_type"] == "login"].groupby("session_id")["ts_ms"].min()
    sessions = both.groupby("session_id").agg(
        start_ms=("ts_ms", "min"),
        end_ms=("ts_ms", "max"),
        channel=("channel", "first"),
        visitor_id=("visitor_id", "first"),
        account=("account", "first"),
    )
    sessions["login_ms"] = login.reindex(sessions.index)
    sessions = sessions.reset_index()
    intents = world.table("truth/sessions").to_pandas()
    sessions = sessions.merge(intents[["session_id", "true_intent"]], on="session_id")
    known = sessions["account"].notna()
    identity = pd.DataFrame(
        {
            "session_id": sessions["session_id"],
            "visitor_id": sessions["visitor_id"],
            "start_ms": sessions["start_ms"],
            "end_ms": sessions["end_ms"],
            "channel": sessions["channel"],
            "recognition": [
                "authenticated" if pd.notna(lg) else ("network_line" if k else "anonymous")
                for lg, k in zip(sessions["login_ms"], known, strict=True)
            ],
            "recognised_ms": sessions["start_ms"].where(known),
            "login_ms": sessions["login_ms"],
            "confidence": 1.0,
            "line_id": None,
            "subscriber_id": None,
            "household_id": None,
            "account_id": [
                PSEUDONYMIZER.pseudonym(IdKind.ACCOUNT, a) if isinstance(a, str) else None
                for a in sessions["account"]
            ],
            "consent_personalisation": True,
        }
    )
    with_intent = sessions[sessions["true_intent"] != "none"]
    session_intents = pd.DataFrame(
        {
            "session_id": with_intent["session_id"],
            "intent": with_intent["true_intent"],
            "score": 1.0,
            "emerged_ms": with_intent["start_ms"],
            "first_signal_ms": with_intent["start_ms"],
            "evidence": "[]",
        }
    )
    (run / "outcomes").mkdir(parents=True)
    for name, frame, schema in (
        ("session_identity", identity, tables.SESSION_IDENTITY),
        ("session_intents", session_intents, tables.SESSION_INTENTS),
    ):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(tables.require_columns(table, schema, name), run / f"{name}.parquet")
    pq.write_table(tables.RESOLVED_HITS.empty_table(), run / "resolved_hits.parquet")
    pq.write_table(tables.DECISIONS.empty_table(), run / "decisions.parquet")
    for name in ("churn", "upgrades", "nps", "care_contacts"):
        pq.write_table(world.table(f"outcomes/{name}"), run / "outcomes" / f"{name}.parquet")
    return sessions


@pytest.mark.integration
def test_research_signal_and_negative_experience_shares_match_a_row_by_row_count(
    tmp_path: Path,
) -> None:
    world_dir, run = tmp_path / "world", tmp_path / "run"
    generate_world(WorldParams(households=1000, days=21, seed=11), world_dir)
    world = WorldFolder(world_dir)
    sessions = _oracle_run(world, run)
    report = build_report(world, run, PSEUDONYMIZER, {}, MeasurementSettings())
    m = report["measures"]

    # --- measure 2, counted row by row
    churn_at: dict[str, int] = {}
    for row in world.table("outcomes/churn").to_pylist():
        churn_at[row["account_id"]] = min(row["churn_ms"], churn_at.get(row["account_id"], 2**62))
    signals: dict[str, list[int]] = defaultdict(list)
    for s in sessions.itertuples():
        anonymous_start = pd.isna(s.login_ms) or s.start_ms < s.login_ms
        if s.true_intent == "churn_research" and isinstance(s.account, str) and anonymous_start:
            signals[s.account].append(int(s.start_ms))
    leads = [
        (churn_at[a] - min(t for t in signals[a] if t < churn_at[a])) / DAY_MS
        for a in churn_at
        if any(t < churn_at[a] for t in signals[a])
    ]
    accounts = set(world.table("crm/accounts")["account_id"].to_pylist())
    non_churners = accounts - set(churn_at)
    base = sum(1 for a in non_churners if signals[a]) / len(non_churners)
    sig = m["churners_with_early_research_signal_share"]
    assert sig["n"] == len(churn_at) > 10
    assert sig["value"] == pytest.approx(len(leads) / len(churn_at))
    assert sig["base_rate_non_churners"]["value"] == pytest.approx(base)
    assert sig["lead_time_days_median"] == pytest.approx(statistics.median(leads))
    # The world plants churn research days to weeks before the churn.
    assert sig["value"] > 0.1 and sig["lift"]["ci95"][0] > 1.0
    assert sig["lead_time_days_median"] > 3

    # --- measure 1: care contacts for complaint/cancel reasons, counted row by row
    by_account: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for s in sessions.itertuples():
        if isinstance(s.account, str):
            by_account[s.account].append((int(s.start_ms), s.login_ms))
    stitched = pre_login = 0
    for c in world.table("outcomes/care_contacts").to_pylist():
        if c["reason"] not in ("complaint", "cancel"):
            continue
        window = [
            (start, login)
            for start, login in by_account[c["account_id"]]
            if c["ts_ms"] - 14 * DAY_MS <= start <= c["ts_ms"]
        ]
        if window:
            stitched += 1
            start, login = min(window, key=lambda w: w[0])
            pre_login += pd.isna(login) or login > start
    neg = m["negative_experiences_before_login_share"]
    kinds = {r["kind"]: r for r in neg["by_kind"]}
    reasons = [k for k in ("complaint_contact", "cancel_contact") if k in kinds]
    assert sum(kinds[k]["n"] for k in reasons) == stitched > 5
    assert sum(kinds[k]["value"] * kinds[k]["n"] for k in reasons) == pytest.approx(pre_login)
