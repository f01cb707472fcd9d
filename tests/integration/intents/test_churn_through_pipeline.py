"""The churn goal of issue 6 through the real pipeline stages (resolver → identity → intents
→ churn evaluation, as `netcx run` calls them) on simulated worlds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from netcx.bootstrap import build_pipeline_deps
from netcx.config import load_settings
from netcx.services import identity, intents
from netcx.services.churn import evaluate_churn_on_world
from netcx.simulate.generate import generate_world
from netcx.simulate.params import WorldParams
from netcx.simulate.world import WorldFolder

pytestmark = pytest.mark.integration


def _churn_through_pipeline(params: WorldParams, base: Path) -> dict[str, Any]:
    generate_world(params, base / "world")
    world = WorldFolder(base / "world")
    deps = build_pipeline_deps(load_settings(), world, work_dir=base / "work")
    hits = world.table("web/hits")
    resolved = deps.batch_resolver.resolve_hits(hits)
    session_identity = identity.build_session_identity(hits, resolved, deps.pseudonymizer)
    session_intents = intents.detect_session_intents(hits)
    return evaluate_churn_on_world(world, session_intents, session_identity, deps.pseudonymizer)


@pytest.mark.slow
def test_pre_login_signals_reach_the_churn_goal(tmp_path: Path) -> None:
    got = _churn_through_pipeline(WorldParams(households=4000, days=60, seed=3), tmp_path)
    assert got["churn.horizon_days"] == 30
    assert got["churn.test_churners"] >= 100
    assert got["churn.auc"] >= 0.85, got
    assert got["churn.auc"] - got["churn.auc_crm_only"] >= 0.05, got
    assert got["churn.top_decile_lift"] > got["churn.top_decile_lift_crm_only"]
    # research starts weeks ahead, for some longer than the horizon
    assert 14 <= got["churn.lead_time_days_median"] <= 40
    assert got["churn.lead_time_share_ge_14d"] >= 0.5
    assert 0 < got["churn.lead_time_share_ge_30d"] < got["churn.lead_time_share_ge_14d"]


def test_a_two_week_world_trains_on_daily_snapshots(tmp_path: Path) -> None:
    got = _churn_through_pipeline(WorldParams(households=1500, days=14, seed=5), tmp_path)
    assert got["churn.horizon_days"] == 7
    assert got["churn.train_snapshots"] >= 3
    assert got["churn.n_train"] > 0
    assert got["churn.test_churners"] > 0
    assert not math.isnan(got["churn.auc"])
    assert 0.5 < got["churn.auc"] <= 1.0
