"""Spark vs DuckDB running the one batch resolution SQL on the same bindings and hits.

Both engines at three sizes: `scale.spark_vs_duckdb` compares them at 1 M hits; the
marginal rate ((3 M − 200 k) ÷ time difference) removes the fixed start-up cost (session
start, stage scheduling, ~30 s for Spark here) that sizing a cluster does not need — the
sizes are far apart so that the difference is not lost in that fixed cost's noise. CPU
seconds are counted too — this process for DuckDB, this process plus the Spark JVM (read
from /proc) for Spark — because wall time on a shared machine is noisy.
Run alone: `python bench/_batch_engines.py` (records only the scale.*batch* keys).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import record
from tests.integration.scale.batch_data import EPS_MS, write_world

from netcx.adapters.batch.resolve import resolve_batch

SMALL, RATIO_AT, LARGE = 200_000, 1_000_000, 3_000_000
ENGINES = ("duckdb", "spark")


def _children_cpu_s() -> float:
    """CPU seconds of this process's live child processes (the Spark JVM)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _run(engine: str, bindings: Path, hits: Path) -> tuple[pa.Table, float, float]:
    """(answers, wall s, CPU s) of one resolution."""
    c0, j0, w0 = time.process_time(), _children_cpu_s(), time.perf_counter()
    out = resolve_batch(engine, bindings, hits, EPS_MS)
    wall = time.perf_counter() - w0
    return out, wall, time.process_time() - c0 + _children_cpu_s() - j0


def batch_times(folder: Path) -> dict[str, float]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    wall: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}
    warm_bindings, warm_hits = write_world(folder / "warm-up")
    for engine in ENGINES:  # JVM start once, outside the timings
        _run(engine, warm_bindings, warm_hits)
    for n in (SMALL, RATIO_AT, LARGE):
        bindings, hits = write_world(folder / str(n), random_hits=n)
        answers: dict[str, pa.Table] = {}
        for engine in ENGINES:
            answers[engine], wall[(engine, n)], cpu[(engine, n)] = _run(engine, bindings, hits)
            print(
                f"{engine} {n:,} hits: {wall[(engine, n)]:.1f} s wall, "
                f"{cpu[(engine, n)]:.1f} s CPU (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        assert answers["spark"].equals(answers["duckdb"]), "Spark and DuckDB answers differ"
    out: dict[str, float] = {
        "scale.batch_rows": RATIO_AT,
        "scale.batch_load_avg": os.getloadavg()[0],
    }
    for e in ENGINES:
        out[f"scale.{e}_batch_s"] = wall[(e, RATIO_AT)]
        out[f"scale.{e}_batch_cpu_s"] = cpu[(e, RATIO_AT)]
        out[f"scale.{e}_rows_per_s"] = (LARGE - SMALL) / (wall[(e, LARGE)] - wall[(e, SMALL)])
        out[f"scale.{e}_rows_per_cpu_s"] = (LARGE - SMALL) / (cpu[(e, LARGE)] - cpu[(e, SMALL)])
    for name, at in (("", RATIO_AT), ("_3m", LARGE)):
        out[f"scale.spark_vs_duckdb{name}"] = wall[("spark", at)] / wall[("duckdb", at)]
        out[f"scale.spark_vs_duckdb{name}_cpu"] = cpu[("spark", at)] / cpu[("duckdb", at)]
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        numbers = batch_times(Path(tmp))
    record(numbers)
    for k, v in sorted(numbers.items()):
        print(f"{k} = {v:.3f}")
    print(f"ratio spark/duckdb = {numbers['scale.spark_vs_duckdb']:.2f} wall, "
          f"{numbers['scale.spark_vs_duckdb_cpu']:.2f} CPU")  # fmt: skip


if __name__ == "__main__":
    main()
