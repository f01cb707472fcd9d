"""`netcx batch resolve`: the same SQL stages (`sql.py`) on DuckDB or Spark.

Inputs: a bindings folder of normalised tables — `leases.parquet` (LEASES), `blocks.parquet`
(BLOCKS), `layout.parquet` (LAYOUT), `lines.parquet` (holder, line_p, sub_p, hh_p, acc_p,
fixed) and `pools.json` ([{"cidr", "kind"}] from the address plan) — and a HITS table.
Addresses are classified per distinct address in Python (one small table), the rest runs in
the engine; the evidence JSON is built from the answer's columns, identically for both.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from netcx.adapters.batch.sql import UNKNOWN_LINE, stages
from netcx.domain.network.timeline import OPEN_END_MS
from netcx.errors import InvalidInput, NotFound
from netcx.tables import (
    BINDING_BLOCKS,
    BINDING_LAYOUT,
    BINDING_LEASES,
    HITS,
    RESOLVED_HITS,
    require_columns,
)

# The normalised binding tables, the same the DuckDB batch resolver of the network area writes.
LEASES, BLOCKS, LAYOUT = BINDING_LEASES, BINDING_BLOCKS, BINDING_LAYOUT
LINES = pa.schema(
    [
        ("holder", pa.string()),
        ("line_p", pa.string()),
        ("sub_p", pa.string()),
        ("hh_p", pa.string()),
        ("acc_p", pa.string()),
        ("fixed", pa.bool_()),
    ]
)

_CLASS_OF_KIND = {
    "public_fixed": "public",
    "public_mobile": "public",
    "cgnat_outside": "cgnat",
    "infrastructure": "infra",
    "cgnat_deterministic": "unsupported",
    "ipv6_mobile": "unsupported",
    "ipv6_fixed_pd": "unsupported",
}
_EV = ("kind", "ref", "source", "start_ms", "end_ms", "detail")


class Engine(Protocol):
    def load_parquet(self, name: str, path: Path) -> None: ...

    def load_arrow(self, name: str, table: pa.Table) -> None: ...

    def create(self, name: str, select: str) -> None: ...

    def export(self, name: str, folder: Path) -> pa.Table:
        """Write table `name` as Parquet under `folder` (by the engine, not through the
        driver) and read it back."""
        ...

    def close(self) -> None: ...


class DuckDBEngine:
    def __init__(self) -> None:
        self._con = duckdb.connect()

    def load_parquet(self, name: str, path: Path) -> None:
        self._con.read_parquet(str(path)).create_view(name)

    def load_arrow(self, name: str, table: pa.Table) -> None:
        self._con.register(name, table)

    def create(self, name: str, select: str) -> None:
        self._con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")

    def export(self, name: str, folder: Path) -> pa.Table:
        folder.mkdir(parents=True, exist_ok=True)
        self._con.table(name).write_parquet(str(folder / "part-0.parquet"))
        return pq.read_table(folder)

    def close(self) -> None:
        self._con.close()


class SparkEngine:
    """Spark SQL (pyspark ≥ 4); `master` local[2] by default, UI off, 2 shuffle partitions."""

    def __init__(self, master: str = "local[2]", shuffle_partitions: int = 2) -> None:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession

        self._spark = (
            SparkSession.builder.master(master)
            .appName("netcx-batch-resolve")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.host", "127.0.0.1")
            .getOrCreate()
        )
        self._spark.sparkContext.setLogLevel("ERROR")

    def load_parquet(self, name: str, path: Path) -> None:
        self._spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def load_arrow(self, name: str, table: pa.Table) -> None:
        self._spark.createDataFrame(table.to_pandas()).createOrReplaceTempView(name)

    def create(self, name: str, select: str) -> None:
        # cached: later stages read each stage more than once
        self._spark.sql(select).cache().createOrReplaceTempView(name)

    def export(self, name: str, folder: Path) -> pa.Table:
        self._spark.table(name).write.mode("overwrite").parquet(str(folder))
        return pq.read_table(folder)

    def close(self) -> None:
        self._spark.stop()


ENGINES: dict[str, Callable[[], Engine]] = {"duckdb": DuckDBEngine, "spark": SparkEngine}


def classify(ips: list[str], pools: list[dict[str, str]]) -> pa.Table:
    """Path class per distinct address: public | cgnat | infra | not_ours | unsupported."""
    nets = [(ipaddress.ip_network(p["cidr"]), p["kind"]) for p in pools]
    cls = []
    for ip in ips:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            cls.append("not_ours")
            continue
        kind = next((k for n, k in nets if addr.version == n.version and addr in n), None)
        cls.append("not_ours" if kind is None else _CLASS_OF_KIND.get(kind, "unsupported"))
    return pa.table({"ip": pa.array(ips, pa.string()), "cls": pa.array(cls, pa.string())})


def _evidence(row: dict[str, Any]) -> str:
    def ev(prefix: str) -> dict[str, Any]:
        out = {k: row[f"{prefix}_{k}"] for k in _EV}
        if out["end_ms"] is not None and out["end_ms"] >= OPEN_END_MS:
            out["end_ms"] = None
        return out

    prior = [ev("b")] if row["b_status"] == "ok" else []
    fail = row["fail"]
    if fail is None or fail == UNKNOWN_LINE:
        items = [*prior, ev("l")]
    elif fail in ("no_lease", "boundary") and row["l_status"] is not None:
        items = prior
    else:
        items = []
    return msgspec.json.encode(items).decode()


def _read_bindings(folder: Path) -> list[dict[str, str]]:
    for name in (
        "leases.parquet",
        "blocks.parquet",
        "layout.parquet",
        "lines.parquet",
        "pools.json",
    ):
        if not (folder / name).exists():
            raise NotFound(f"--bindings {folder}: missing {name}")
    try:
        pools: list[dict[str, str]] = json.loads((folder / "pools.json").read_text())
    except json.JSONDecodeError as err:
        raise InvalidInput(f"{folder / 'pools.json'}:{err.lineno}: {err.msg}") from err
    return pools


def resolve_batch(
    engine_name: str, bindings: Path, hits_path: Path, eps_ms: int = 2000
) -> pa.Table:
    """RESOLVED_HITS for the hits in `hits_path` against the tables in `bindings`."""
    pools = _read_bindings(bindings)
    hits = require_columns(
        pq.read_table(hits_path, columns=["hit_id", "ts_ms", "src_ip", "src_port"]),
        pa.schema([HITS.field(n) for n in ("hit_id", "ts_ms", "src_ip", "src_port")]),
        str(hits_path),
    )
    ips = pc.unique(hits.column("src_ip")).to_pylist()
    engine = ENGINES[engine_name]()
    try:
        for name in ("leases", "blocks", "layout", "lines"):
            engine.load_parquet(f"{name}_in", bindings / f"{name}.parquet")
        engine.create("layout", "SELECT * FROM layout_in")
        engine.create("li", "SELECT * FROM lines_in")
        engine.load_parquet("hits_in", hits_path)
        engine.load_arrow("ipc", classify([i for i in ips if i is not None], pools))
        engine.create(
            "h",
            "SELECT hits_in.hit_id, CAST(hits_in.ts_ms AS BIGINT) AS t, hits_in.src_ip AS ip, "
            "hits_in.src_port AS port, coalesce(ipc.cls, 'not_ours') AS cls "
            "FROM hits_in LEFT JOIN ipc ON ipc.ip = hits_in.src_ip",
        )
        for name, select in stages(eps_ms):
            engine.create(name, select)
        with tempfile.TemporaryDirectory(prefix="netcx-batch-") as tmp:
            answer = engine.export("answer", Path(tmp) / "answer").sort_by("hit_id")
    finally:
        engine.close()
    needed = ["b_status", "l_status", "fail"] + [f"{p}_{k}" for p in "bl" for k in _EV]
    rows = answer.select(needed).to_pylist()
    out = pa.table(
        {
            "hit_id": answer.column("hit_id"),
            "level": answer.column("level"),
            "reason": answer.column("reason"),
            "confidence": answer.column("confidence").cast(pa.float32()),
            "line_id": answer.column("line_id"),
            "subscriber_id": answer.column("subscriber_id"),
            "household_id": answer.column("household_id"),
            "account_id": answer.column("account_id"),
            "evidence": pa.array([_evidence(r) for r in rows], pa.string()),
        }
    )
    return require_columns(out, RESOLVED_HITS, "resolved_hits")
