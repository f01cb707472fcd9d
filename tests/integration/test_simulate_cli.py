"""`netcx simulate` through the real CLI process: a world on disk, and clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netcx.simulate.world import WorldFolder

pytestmark = pytest.mark.integration


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netcx", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_simulate_writes_a_world(tmp_path: Path) -> None:
    out = tmp_path / "world"
    r = run(
        "--households",
        "150",
        "--days",
        "4",
        "--seed",
        "3",
        "--out",
        str(out),
        "--true-nps-uplift",
        "7.5",
        "--true-churn-relative-change",
        "-0.3",
    )
    assert r.returncode == 0, r.stderr
    world = WorldFolder(out)
    assert world.meta["true_nps_uplift"] == 7.5
    assert world.effects()["true_churn_relative_change"] == -0.3
    assert world.table("web/hits").num_rows > 100
    assert "hits" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--households", "0", "--days", "3"], "households: must be at least 1"),
        (["--households", "10", "--days", "-2"], "days: must be at least 1"),
        (["--households", "10", "--true-churn-relative-change", "-3"], "within [-1, 1]"),
        (["--households", "10", "--frobnicate", "1"], "No such option: --frobnicate"),
    ],
)
def test_bad_input_is_refused_clearly(tmp_path: Path, args: list[str], message: str) -> None:
    r = run(*args, "--out", str(tmp_path / "w"))
    assert r.returncode != 0
    assert message in " ".join(r.stderr.split())
    assert not (tmp_path / "w" / "meta.json").exists()


def test_non_empty_out_is_refused_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "w"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = run("--households", "20", "--days", "2", "--out", str(out))
    assert r.returncode == 2
    assert "not empty" in r.stderr and "--force" in " ".join(r.stderr.split())
    r = run("--households", "20", "--days", "2", "--out", str(out), "--force")
    assert r.returncode == 0, r.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "meta.json").is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    r = run("--households", "20", "--days", "2", "--out", str(locked / "w"))
    assert r.returncode == 2
    assert "not writable" in r.stderr


def test_out_under_a_file_or_unwritable_place_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = run("--households", "20", "--days", "2", "--out", str(afile / "w"))
    assert r.returncode == 2
    assert "is not a directory" in " ".join(r.stderr.split())
    r = run("--households", "20", "--days", "2", "--out", "/proc/netcx-world")
    assert r.returncode == 2
    assert "not writable" in " ".join(r.stderr.split())
