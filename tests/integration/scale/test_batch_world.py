"""On a simulated world with every pool kind, `netcx batch resolve` on DuckDB and on Spark
answers every hit exactly as the pipeline's batch resolver and the real-time resolver do."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from netcx.bootstrap import build_batch_resolver, build_pseudonymizer
from netcx.config import load_settings
from netcx.domain.resolution import Evidence
from netcx.simulate.world import WorldFolder

pytestmark = pytest.mark.integration

# every path of the resolver the world reaches: deterministic NAT, logged port blocks,
# public fixed leases, IPv6 /64 (line) and /56 (household), infrastructure, foreign
PATHS = {
    ("line", "nat_rule+radius"),
    ("line", "cgnat_block+radius"),
    ("household", "radius"),
    ("line", "ipv6_prefix"),
    ("household", "ipv6_prefix"),
    ("unknown", "infrastructure"),
    ("unknown", "not_ours"),
    ("unknown", "no_port"),
}


def netcx(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "netcx", *args],
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pa.Table]:
    """(world folder, bindings folder, the pipeline batch resolver's answers)."""
    root = tmp_path_factory.mktemp("batch-world")
    out = root / "world"
    netcx("simulate", "--households", "60", "--days", "2", "--seed", "3", "--out", str(out))
    netcx("batch", "bindings", "--world", str(out), "--out", str(root / "bindings"))
    settings = load_settings()
    batch = build_batch_resolver(
        settings, WorldFolder(out), build_pseudonymizer(settings), root / "work"
    )
    pipeline = batch.resolve_hits(pq.read_table(out / "web" / "hits.parquet"))
    return out, root / "bindings", pipeline


def check_against_realtime(world: Path, answers: pa.Table) -> None:
    settings = load_settings()
    batch = build_batch_resolver(
        settings, WorldFolder(world), build_pseudonymizer(settings), world.parent / "rt"
    )
    rt = batch.resolver
    hits = pq.read_table(world / "web" / "hits.parquet").to_pylist()
    rows = answers.to_pylist()
    assert [r["hit_id"] for r in rows] == sorted(h["hit_id"] for h in hits)
    by_id = {h["hit_id"]: h for h in hits}
    seen = Counter()
    for row in rows:
        h = by_id[row["hit_id"]]
        want = rt.resolve(h["src_ip"], h["src_port"], h["ts_ms"])
        where = (row["hit_id"], want.reason)
        assert (row["level"], row["reason"]) == (want.level.value, want.reason), where
        assert row["confidence"] == np.float32(want.confidence), where
        ids = ("line_id", "subscriber_id", "household_id", "account_id")
        assert [row[k] for k in ids] == [getattr(want, k) for k in ids], where
        evidence = msgspec.convert(msgspec.json.decode(row["evidence"]), list[Evidence])
        assert evidence == list(want.evidence), where
        seen[(row["level"], row["reason"])] += 1
    assert set(seen) >= PATHS, f"the world does not reach {PATHS - set(seen)}: {seen}"


def resolve_cli(engine: str, world: Path, bindings: Path, out: Path) -> pa.Table:
    hits = world / "web" / "hits.parquet"
    netcx("batch", "resolve", "--engine", engine, "--bindings", str(bindings),
          "--hits", str(hits), "--out", str(out))  # fmt: skip
    return pq.read_table(out)


def test_duckdb_cli_equals_pipeline_and_realtime(
    world: tuple[Path, Path, pa.Table], tmp_path: Path
) -> None:
    folder, bindings, pipeline = world
    duck = resolve_cli("duckdb", folder, bindings, tmp_path / "duck.parquet")
    assert duck.equals(pipeline)
    check_against_realtime(folder, duck)


@pytest.mark.spark
def test_spark_cli_equals_duckdb_and_realtime(
    world: tuple[Path, Path, pa.Table], tmp_path: Path
) -> None:
    folder, bindings, pipeline = world
    spark = resolve_cli("spark", folder, bindings, tmp_path / "spark.parquet")
    assert spark.to_pylist() == pipeline.to_pylist()  # every column, evidence text included
    check_against_realtime(folder, spark)
