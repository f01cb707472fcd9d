"""The closed loop: outcomes under netcx's decisions move by the configured true effects."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netcx import tables
from netcx.simulate.world import WorldFolder


def decisions_for(world: WorldFolder, share: float = 1.0) -> pa.Table:
    """A shown decision at the first hit of (a share of) every session."""
    hits = world.table("web/hits")
    first = hits.group_by("session_id").aggregate([("ts_ms", "min")])
    n = first.num_rows
    keep = np.random.default_rng(0).random(n) < share
    first = first.filter(pa.array(keep))
    n = first.num_rows
    return pa.table(
        {
            "decision_id": [f"d{i}" for i in range(n)],
            "ts_ms": first["ts_ms_min"],
            "session_id": first["session_id"],
            "visitor_id": pa.nulls(n, pa.string()),
            "account_id": pa.nulls(n, pa.string()),
            "recognition": ["anonymous"] * n,
            "intent": ["none"] * n,
            "experience": ["help"] * n,
            "reason": ["test"] * n,
            "holdout": [False] * n,
            "shown": [True] * n,
        },
        schema=tables.DECISIONS,
    )


def test_baseline_outcomes_are_the_loop_without_decisions(modest_world: WorldFolder) -> None:
    none = modest_world.outcomes_under(tables.DECISIONS.empty_table())
    for name in ("churn", "upgrades", "nps", "care_contacts", "outages"):
        assert none[name].equals(modest_world.table(f"outcomes/{name}")), name
    # Holdout rows (shown = False) change nothing either.
    held = decisions_for(modest_world)
    held = held.set_column(10, "shown", pa.array(np.zeros(held.num_rows, bool)))
    again = modest_world.outcomes_under(held)
    assert again["nps"].equals(none["nps"])
    assert again["churn"].equals(none["churn"])


def test_all_supported_moves_nps_churn_and_friction_by_the_true_effects(
    modest_world: WorldFolder,
) -> None:
    w = modest_world
    effects = w.effects()
    base = w.outcomes_under(tables.DECISIONS.empty_table())
    treated = w.outcomes_under(decisions_for(w))
    again = w.outcomes_under(decisions_for(w))
    assert all(treated[k].equals(again[k]) for k in treated)  # deterministic

    # NPS: on the surveys of accounts with a supported high-intent journey before the survey.
    journeys = w.table("truth/journeys").filter(pc.field("high_intent"))
    first_support = journeys.group_by("account_id").aggregate([("start_ms", "min")])
    support = dict(
        zip(
            first_support["account_id"].to_pylist(),
            first_support["start_ms_min"].to_pylist(),
            strict=True,
        )
    )
    b, t = base["nps"].to_pylist(), treated["nps"].to_pylist()
    assert len(b) == len(t)
    change = []
    for before, after in zip(b, t, strict=True):
        assert before["account_id"] == after["account_id"]
        eligible = support.get(before["account_id"], 2**62) < before["survey_ms"]
        if not eligible:
            assert after["score"] == before["score"]
            continue

        def contribution(score: int) -> int:
            return 100 if score >= 9 else (-100 if score <= 6 else 0)

        change.append(contribution(after["score"]) - contribution(before["score"]))
    assert len(change) > 100
    mean, se = float(np.mean(change)), float(np.std(change) / np.sqrt(len(change)))
    assert abs(mean - effects["true_nps_uplift"]) < 4 * se + 0.5, (mean, se)
    assert mean > 0

    # Churn: supported researchers who would churn stay with probability |change|.
    loop = w.table("truth/loop_churn")
    researched = loop.filter(pc.and_(pc.is_valid(loop["journey_id"]), loop["baseline"]))
    lines = set(researched["line_id"].to_pylist())
    n_base = sum(1 for x in base["churn"]["line_id"].to_pylist() if x in lines)
    n_treated = sum(1 for x in treated["churn"]["line_id"].to_pylist() if x in lines)
    ratio = n_treated / n_base
    keep = 1 + effects["true_churn_relative_change"]
    se = np.sqrt(keep * (1 - keep) / n_base)
    assert n_base > 30
    assert abs(ratio - (1 + effects["true_churn_relative_change"])) < 4 * se, (ratio, n_base)
    silent = set(loop.filter(pc.is_null(loop["journey_id"]))["line_id"].to_pylist())
    assert {x for x in treated["churn"]["line_id"].to_pylist() if x in silent} == {
        x for x in base["churn"]["line_id"].to_pylist() if x in silent
    }

    # Friction: repeat contacts among journey-linked contacts drop by the configured share.
    def repeat_rate(care: pa.Table) -> float:
        first = care.filter(pc.invert(pc.ends_with(care["contact_id"], "-r")))
        linked = set(
            w.table("truth/loop_care")
            .filter(pc.is_valid(pc.field("journey_id")))["contact_id"]
            .to_pylist()
        )
        flags = [r["repeat_within_7d"] for r in first.to_pylist() if r["contact_id"] in linked]
        return float(np.mean(flags))

    r_base, r_treated = repeat_rate(base["care_contacts"]), repeat_rate(treated["care_contacts"])
    expected = 1 + effects["true_repeat_contact_relative_change"]
    assert abs(r_treated / r_base - expected) < 0.15, (r_base, r_treated)
