"""Accuracy on a simulated world (needs the simulator: skipped where it is not merged yet)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from netcx.bootstrap import build_batch_resolver, build_pseudonymizer
from netcx.config import load_settings
from netcx.domain.resolution import Evidence
from netcx.services.network import evaluate_resolution

pytestmark = pytest.mark.integration


def test_simulated_world_precision_recall_and_realtime_agreement(tmp_path: Path) -> None:
    world_mod = pytest.importorskip("netcx.simulate.world")
    out = tmp_path / "world"
    sim = subprocess.run(
        [sys.executable, "-m", "netcx", "simulate", "--households", "300", "--days", "4",
         "--seed", "5", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    world = world_mod.WorldFolder(out)
    settings = load_settings()
    p = build_pseudonymizer(settings)
    batch = build_batch_resolver(settings, world, p, tmp_path / "work")
    hits = world.table("web/hits")
    resolved = batch.resolve_hits(hits)
    assert resolved.num_rows == hits.num_rows
    m = evaluate_resolution(resolved, world.table("truth/hits"), p)
    assert m["resolution.precision"] >= 0.999, m
    assert m["resolution.recall"] >= 0.98, m
    assert m["resolution.unattributable_resolved_share"] == 0.0, m
    assert m["resolution.household_accuracy"] >= 0.99, m
    # the real-time resolver over the same books answers the same for a sample of hits
    rt = batch.resolver  # type: ignore[attr-defined]
    rows = resolved.to_pylist()
    hit_rows = {h["hit_id"]: h for h in hits.to_pylist()}
    for row in random.Random(1).sample(rows, min(500, len(rows))):
        h = hit_rows[row["hit_id"]]
        want = rt.resolve(h["src_ip"], h["src_port"], h["ts_ms"])
        assert (row["level"], row["reason"], row["line_id"]) == (
            want.level.value,
            want.reason,
            want.line_id,
        )
        got = msgspec.convert(msgspec.json.decode(row["evidence"]), list[Evidence])
        assert got == list(want.evidence)
