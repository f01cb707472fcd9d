"""Benchmark `netcx simulate` (100k households x 30 days) against writing as many rows with
pyarrow alone (same process family, same disk): prints the ratio and records the numbers."""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _results import record


def rows_written(world: Path) -> int:
    """Rows of every Parquet table plus the lines of the CGNAT syslog."""
    meta = json.loads((world / "meta.json").read_text())
    parquet = sum(pq.ParquetFile(p).metadata.num_rows for p in world.rglob("*.parquet"))
    return int(parquet + meta["rows"]["cgnat_events"])


def baseline_seconds(n_rows: int, out: Path) -> float:
    """Write `n_rows` random rows (an int64, a float64 and a short string column) with
    pyarrow alone, in chunks of one million: the floor for any generator of this size."""
    rng = np.random.default_rng(0)
    words = pa.array([f"v{i:06d}" for i in range(10_000)])
    start = time.perf_counter()
    with pq.ParquetWriter(
        out / "baseline.parquet",
        pa.schema([("a", pa.int64()), ("b", pa.float64()), ("c", pa.string())]),
        compression="zstd",
    ) as writer:
        for lo in range(0, n_rows, 1_000_000):
            n = min(1_000_000, n_rows - lo)
            writer.write_table(
                pa.table(
                    {
                        "a": rng.integers(0, 1 << 40, n),
                        "b": rng.random(n),
                        "c": words.take(pa.array(rng.integers(0, len(words), n))),
                    }
                )
            )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="netcx-bench-sim-"))
    try:
        world = work / "world"
        cmd = [
            sys.executable,
            "-m",
            "netcx",
            "simulate",
            "--households",
            str(args.households),
            "--days",
            str(args.days),
            "--seed",
            "1",
            "--out",
            str(world),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        n_rows = rows_written(world)
        size_mb = sum(p.stat().st_size for p in world.rglob("*") if p.is_file()) / 1e6
        shutil.rmtree(world)
        base = baseline_seconds(n_rows, work)
        label = f"{args.households // 1000}k_households_{args.days}d"
        numbers = {
            f"simulate.seconds_{label}": seconds,
            f"simulate.cpu_seconds_{label}": cpu,
            "simulate.rows_per_s": n_rows / seconds,
            "simulate.baseline_pyarrow_rows_per_s": n_rows / base,
            "simulate.ratio_vs_pyarrow_write": seconds / base,
        }
        record(numbers)
        print(
            f"netcx simulate {args.households} households x {args.days} days: "
            f"{seconds:.1f} s wall, {cpu:.1f} s CPU, {n_rows:,} rows, {size_mb:,.0f} MB"
        )
        print(f"baseline (pyarrow writes {n_rows:,} random rows): {base:.1f} s")
        print(
            f"ratio netcx/baseline: {seconds / base:.2f}x  "
            f"({n_rows / seconds:,.0f} vs {n_rows / base:,.0f} rows/s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
