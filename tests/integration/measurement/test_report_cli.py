"""`netcx report` as a user runs it: a simulated world, a closed-loop run, the command's files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netcx.simulate.generate import generate_world
from netcx.simulate.params import WorldParams
from netcx.simulate.world import WorldFolder
from tests.integration.measurement.closed_loop import (
    decisions_for_high_intent_journeys,
    write_closed_loop_run,
)


def _netcx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netcx", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
def test_report_command_writes_json_and_html_with_the_true_effect(tmp_path: Path) -> None:
    world_dir, run = tmp_path / "world", tmp_path / "run"
    generate_world(WorldParams(households=400, days=10, seed=4, true_nps_uplift=8.0), world_dir)
    world = WorldFolder(world_dir)
    write_closed_loop_run(world, decisions_for_high_intent_journeys(world, 4), run)
    # --world is optional when the run records its world (as `netcx run` does).
    (run / "run.json").write_text(json.dumps({"world": str(world_dir)}), encoding="utf-8")

    done = _netcx("report", "--run", str(run))
    assert done.returncode == 0, done.stderr
    assert "NPS uplift" in done.stdout and "report.html" in done.stdout

    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    m = report["measures"]
    for key in (
        "negative_experiences_before_login_share",
        "churners_with_early_research_signal_share",
        "nps_uplift",
    ):
        assert set(m[key]) >= {"value", "ci95"}
    assert m["nps_uplift"]["true_effect"] == 8.0
    assert "lead_time_days_median" in m["churners_with_early_research_signal_share"]
    assert set(m["friction"]) >= {"repeat_contact_rate_treated", "repeat_contact_rate_holdout"}
    # Decisions were randomised 50/50 while the default design is a 5 % holdout: the
    # sample-ratio check must say so rather than let the comparison pass as trustworthy.
    assert m["experiment"]["srm"]["mismatch"]
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert page.count("<svg") >= 4


@pytest.mark.integration
def test_report_command_names_what_is_missing(tmp_path: Path) -> None:
    done = _netcx("report", "--run", str(tmp_path / "nope"), "--world", str(tmp_path))
    assert done.returncode != 0
    assert "nope" in done.stderr
    (tmp_path / "run").mkdir()
    done = _netcx("report", "--run", str(tmp_path / "run"))
    assert done.returncode == 4
    assert "run.json" in done.stderr and "--world" in done.stderr
