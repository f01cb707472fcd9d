"""simulate + run on a tiny world: every stage runs and the accuracy figures meet the bar."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("e2e")
    world, out = base / "world", base / "out"
    netcx = [sys.executable, "-m", "netcx"]
    subprocess.run(
        [
            *netcx,
            "simulate",
            "--households",
            "400",
            "--days",
            "7",
            "--seed",
            "11",
            "--out",
            str(world),
        ],
        check=True,
    )
    subprocess.run([*netcx, "run", "--world", str(world), "--out", str(out)], check=True)
    return out


def test_report_files_are_written(run_dir: Path) -> None:
    for name in ("report.json", "report.html", "resolved_hits.parquet", "decisions.parquet"):
        assert (run_dir / name).is_file(), name
    assert (
        "<svg" in (run_dir / "report.html").read_text()
        or "vega" in (run_dir / "report.html").read_text()
    )


def test_resolution_accuracy_against_ground_truth(run_dir: Path) -> None:
    r = json.loads((run_dir / "report.json").read_text())["resolution"]
    assert r["precision"] >= 0.999
    assert r["recall"] >= 0.98
    assert r["unattributable_resolved_share"] == 0.0
    assert r["household_accuracy"] >= 0.99


def test_measures_carry_values_cis_and_truth(run_dir: Path) -> None:
    report = json.loads((run_dir / "report.json").read_text())
    m = report["measures"]
    share = m["negative_experiences_before_login_share"]
    assert 0.0 <= share["ci95"][0] <= share["value"] <= share["ci95"][1] <= 1.0
    early = m["churners_with_early_research_signal_share"]
    assert early["lead_time_days_median"] > 0
    nps = m["nps_uplift"]
    assert nps["ci95"][0] <= nps["value"] <= nps["ci95"][1]
    assert nps["true_effect"] == 5.0
    f = m["friction"]
    assert 0.0 <= f["repeat_contact_rate_treated"] <= 1.0
    assert 0.0 <= f["repeat_contact_rate_holdout"] <= 1.0
    assert report["intents"]["macro_f1"] >= 0.9
