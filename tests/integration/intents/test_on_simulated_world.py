"""Intents and churn on a simulated world: the pipeline stages as `netcx run` calls them."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from netcx.domain.pseudonyms import Pseudonymizer
from netcx.services.churn import evaluate_churn_on_world
from netcx.services.intents import (
    detect_household_intents,
    detect_session_intents,
    evaluate_intents,
)
from netcx.simulate.generate import generate_world
from netcx.simulate.params import WorldParams
from netcx.simulate.world import WorldFolder
from netcx.tables import SESSION_INTENTS
from tests.integration.intents.truth_identity import identity_from_truth

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> WorldFolder:
    out: Path = tmp_path_factory.mktemp("world")
    generate_world(WorldParams(households=800, days=60, seed=11), out)
    return WorldFolder(out)


def test_session_intents_match_the_latent_intents(world: WorldFolder) -> None:
    hits = world.table("web/hits")
    got = evaluate_intents(detect_session_intents(hits), world.table("truth/hits"), hits)
    assert got["intents.macro_f1"] >= 0.9, got
    for intent in ("churn_research", "fibre_availability", "roaming", "billing_problem"):
        assert got[f"intents.f1.{intent}"] >= 0.85, (intent, got)


def test_churn_evaluation_reports_every_key_honestly(world: WorldFolder) -> None:
    ps = Pseudonymizer({"k1": b"test-key"}, "k1")
    hits = world.table("web/hits")
    intents = detect_session_intents(hits)
    identity = identity_from_truth(hits, world.table("truth/hits"), ps)
    got = evaluate_churn_on_world(world, intents, identity, ps)
    for key in (
        "churn.auc",
        "churn.auc_crm_only",
        "churn.top_decile_lift",
        "churn.pr_auc",
        "churn.lead_time_days_median",
        "churn.lead_time_share_ge_7d",
        "churn.lead_time_share_ge_14d",
        "churn.lead_time_share_ge_30d",
    ):
        assert isinstance(got[key], float), key
    assert got["churn.test_churners"] > 0
    assert 0.5 < got["churn.auc"] <= 1.0
    assert 0.0 <= got["churn.auc_crm_only"] <= 1.0
    # the simulator's research precedes churn by ~30 days (median), cut by the window
    assert 14 <= got["churn.lead_time_days_median"] <= 40
    assert got["churn.lead_time_share_ge_7d"] >= got["churn.lead_time_share_ge_14d"]
    assert got["churn.lead_time_share_ge_14d"] >= got["churn.lead_time_share_ge_30d"]
    assert 0 < got["churn.research_signal_coverage"] <= 1
    assert not math.isnan(got["churn.truth_research_visible_share"])
    # households recognised from the network are scored as one journey
    households = detect_household_intents(intents, identity)
    assert households.num_rows > 0


def test_intents_evaluate_cli_on_the_world(world: WorldFolder, tmp_path: Path) -> None:
    out = tmp_path / "session_intents.parquet"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "netcx",
            "intents",
            "evaluate",
            "--world",
            str(world.path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["intents.macro_f1"] >= 0.9
    assert pq.read_table(out).schema == SESSION_INTENTS
    r = subprocess.run(
        [sys.executable, "-m", "netcx", "intents", "evaluate", "--world", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 4
    assert "no such folder" in r.stderr
