"""report.json / report.html files, bad run directories, the dashboard's choice of run."""

import json
import os
from pathlib import Path

import pytest

from netcx.config import MeasurementSettings
from netcx.errors import InvalidInput, NotFound
from netcx.services.report import (
    build_report,
    latest_run_with_report,
    read_report,
    write_report,
)
from tests.unit.measurement.handmade import PSEUDONYMIZER, designed_policy, random_run


def test_written_report_is_strict_json_with_extra_figures_nested(tmp_path: Path) -> None:
    world, run = random_run(tmp_path, accounts=80)
    extra = {"resolution.precision": 0.97, "intents": {"macro_f1": 0.8}}
    report = build_report(
        world, run, PSEUDONYMIZER, extra, MeasurementSettings(), designed_policy(0.5)
    )
    json_path, html_path = write_report(report, run)
    text = json_path.read_text(encoding="utf-8")
    assert "NaN" not in text  # JSON has no NaN: missing figures are null
    loaded = json.loads(text)
    assert loaded["resolution"]["precision"] == 0.97
    assert loaded["intents"]["macro_f1"] == 0.8
    assert loaded["measures"]["nps_uplift"]["true_effect"] == 20.0
    assert read_report(run) == loaded
    page = html_path.read_text(encoding="utf-8")
    assert "Pipeline accuracy against ground truth" in page and "resolution.precision" in page


def test_bad_run_directory_names_the_file(tmp_path: Path) -> None:
    world, run = random_run(tmp_path, accounts=20)
    with pytest.raises(NotFound, match="no such run directory"):
        build_report(world, tmp_path / "missing", PSEUDONYMIZER)
    (run / "decisions.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match=r"decisions\.parquet: not a readable Parquet"):
        build_report(world, run, PSEUDONYMIZER)
    (run / "decisions.parquet").unlink()
    with pytest.raises(NotFound, match=r"decisions\.parquet: missing from the run directory"):
        build_report(world, run, PSEUDONYMIZER)


def test_dashboard_source_is_the_newest_measured_run(tmp_path: Path) -> None:
    assert latest_run_with_report(tmp_path / "none") is None
    for name, mtime in (("old", 1_000), ("new", 2_000)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text("{}", encoding="utf-8")
        os.utime(tmp_path / name / "report.json", (mtime, mtime))
    (tmp_path / "unmeasured").mkdir()
    assert latest_run_with_report(tmp_path) == tmp_path / "new"
    assert latest_run_with_report(tmp_path / "old") == tmp_path / "old"
