"""`netcx batch resolve`: hand-checked answers on DuckDB, and Spark gives the same table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from netcx.adapters.batch.resolve import resolve_batch
from tests.integration.scale.batch_data import EPS_MS, EXPECTED, write_world

pytestmark = pytest.mark.integration


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NETCX_RESOLVER__CLOCK_SKEW_S": str(EPS_MS / 1000),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    return subprocess.run(
        [sys.executable, "-m", "netcx", "batch", "resolve", *args],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_duckdb_answers_follow_the_timeline_rules(tmp_path: Path) -> None:
    bindings, hits = write_world(tmp_path)
    out = tmp_path / "resolved.parquet"
    proc = run_cli(
        "--engine", "duckdb", "--bindings", str(bindings), "--hits", str(hits), "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hits"] == len(EXPECTED)
    rows = {r["hit_id"]: r for r in pq.read_table(out).to_pylist()}
    for (hit_id, *_), (level, reason, holder) in EXPECTED.items():
        row = rows[hit_id]
        assert (row["level"], row["reason"]) == (level, reason), hit_id
        assert row["line_id"] == (None if holder is None else f"ln1_{holder}"), hit_id
    assert rows[1]["subscriber_id"] is None  # fixed lines answer a household
    assert rows[4]["subscriber_id"] == "sb1_MB1"
    assert rows[5]["confidence"] == pytest.approx(0.99 * 0.8)
    evidence = json.loads(rows[4]["evidence"])
    assert [e["kind"] for e in evidence] == ["port_block", "radius_session"]
    assert evidence[0]["end_ms"] is None  # open block


def test_missing_binding_table_is_named(tmp_path: Path) -> None:
    bindings, hits = write_world(tmp_path)
    (bindings / "deterministic_nat.json").unlink()
    proc = run_cli(
        "--bindings", str(bindings), "--hits", str(hits), "--out", str(tmp_path / "o.parquet")
    )
    assert proc.returncode == 4
    assert "missing deterministic_nat.json" in " ".join(proc.stderr.split())


@pytest.mark.spark
def test_spark_gives_the_same_answers_as_duckdb(tmp_path: Path) -> None:
    bindings, hits = write_world(tmp_path, random_hits=3000)
    duck = resolve_batch("duckdb", bindings, hits, EPS_MS)
    out = tmp_path / "spark.parquet"
    proc = run_cli(
        "--engine", "spark", "--bindings", str(bindings), "--hits", str(hits), "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    spark = pq.read_table(out)
    assert spark.num_rows == duck.num_rows == 3000 + len(EXPECTED)
    assert spark.to_pylist() == duck.to_pylist()
    assert len(set(duck.column("reason").to_pylist())) >= 8  # the random hits reach most paths


def test_hits_without_a_port_column_are_refused_by_name(tmp_path: Path) -> None:
    bindings, hits = write_world(tmp_path)
    pq.write_table(pq.read_table(hits).drop_columns(["src_port"]), hits)
    proc = run_cli(
        "--bindings", str(bindings), "--hits", str(hits), "--out", str(tmp_path / "o.parquet")
    )
    assert proc.returncode == 2
    assert "missing column src_port" in " ".join(proc.stderr.split())
