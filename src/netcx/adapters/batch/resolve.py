"""Batch resolution: the SQL stages of `sql.py` on any engine, from tables or a folder.

The pipeline's DuckDB batch resolver (`adapters.storage.bindings_duckdb`) and `netcx batch
resolve --engine duckdb|spark` both go through `load_bindings` + `resolve_loaded`, so there
is one batch semantics. A bindings folder holds the normalised tables `leases.parquet`
(BINDING_LEASES), `blocks.parquet` (BINDING_BLOCKS), `layout.parquet` (BINDING_LAYOUT),
`lines.parquet` (LINE_IDS), plus the world's `address_plan.json` and
`deterministic_nat.json`; `netcx batch bindings` writes one from a world folder.
On DuckDB, the port-block bindings are also packed into an index once per load
(`packed.PackedBlocks`), which finds each hit's block binding A (`choose_block_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from netcx.adapters.batch.engines import DuckDBEngine, Engine, SparkEngine
from netcx.adapters.batch.inputs import (
    LINE_IDS,
    address_classes,
    nat_tables,
    v6_probes,
)
from netcx.adapters.batch.packed import (
    BLOCK_ROWS_SQL,
    PROBES_SQL,
    PackedBlocks,
    choose_block_rows,
)
from netcx.adapters.batch.sql import (
    DISTINCT_ADDRESSES_SQL,
    HITS_SQL,
    PREFIX_LENGTHS_SQL,
    V6,
    binding_stages,
    hit_stages,
)
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.plan import AddressPlan
from netcx.errors import InvalidInput, NotFound
from netcx.tables import (
    BINDING_BLOCKS,
    BINDING_LAYOUT,
    BINDING_LEASES,
    HITS,
    RESOLVED_HITS,
    require_columns,
)

ENGINES: dict[str, Callable[[], Engine]] = {"duckdb": DuckDBEngine, "spark": SparkEngine}
TABLES = {
    "leases": BINDING_LEASES,
    "blocks": BINDING_BLOCKS,
    "layout": BINDING_LAYOUT,
    "lines": LINE_IDS,
}
PLAN_FILE, NAT_FILE = "address_plan.json", "deterministic_nat.json"


def load_bindings(engine: Engine, tables: Mapping[str, pa.Table | Path]) -> None:
    """Load the four binding tables (Arrow, or Parquet read by the engine) and prepare them."""
    for name, source in tables.items():
        view = "li" if name == "lines" else f"{name}_in"
        if isinstance(source, Path):
            engine.load_parquet(view, source)
        else:
            engine.load_arrow(view, require_columns(source, TABLES[name], name))
    for name, select in binding_stages(engine.dialect):
        engine.create(name, select)
    if isinstance(engine, DuckDBEngine) and engine.dialect.packed_blocks:
        engine.blocks = PackedBlocks.build(engine.fetch(BLOCK_ROWS_SQL))


def resolve_loaded(
    engine: Engine, plan: AddressPlan, nat: DeterministicNat, eps_ms: int
) -> pa.Table:
    """RESOLVED_HITS (ordered by hit_id) for the hits in view `hits_src`, against the
    bindings `load_bindings` prepared on the same engine."""
    engine.create("hq", HITS_SQL)
    ips = engine.fetch(DISTINCT_ADDRESSES_SQL).column("ip").to_pylist()
    classes = address_classes(ips, plan)
    engine.load_arrow("ipc", classes)
    plens = [p for p in engine.fetch(PREFIX_LENGTHS_SQL).column("plen").to_pylist() if p]
    v6 = [ip for ip, c in zip(ips, classes.column("cls").to_pylist(), strict=True) if c == V6]
    engine.load_arrow("v6p", v6_probes(v6, plens))
    nat_out, nat_in = nat_tables(nat)
    engine.load_arrow("nat_out", nat_out)
    engine.load_arrow("nat_in", nat_in)
    *stages, (_, answer) = hit_stages(engine.dialect, eps_ms)
    for name, select in stages:
        engine.create(name, select)
        if name == "hp" and isinstance(engine, DuckDBEngine) and engine.blocks is not None:
            probes = engine.fetch(PROBES_SQL)
            engine.load_arrow("block_a", choose_block_rows(engine.blocks, probes, eps_ms))
    out = engine.fetch(answer).sort_by("hit_id")
    return require_columns(out, RESOLVED_HITS, "resolved_hits")


def write_bindings(
    folder: Path, tables: dict[str, pa.Table], plan: AddressPlan, nat: DeterministicNat
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, schema in TABLES.items():
        pq.write_table(require_columns(tables[name], schema, name), folder / f"{name}.parquet")
    (folder / PLAN_FILE).write_bytes(plan.to_json())
    (folder / NAT_FILE).write_bytes(msgspec.json.encode(nat.rules))


def read_config(folder: Path) -> tuple[AddressPlan, DeterministicNat]:
    """The address plan and RFC 7422 config of a bindings folder (missing files named)."""
    for name in [*(f"{n}.parquet" for n in TABLES), PLAN_FILE, NAT_FILE]:
        if not (folder / name).exists():
            raise NotFound(f"--bindings {folder}: missing {name}")
    try:
        plan = AddressPlan.from_json((folder / PLAN_FILE).read_bytes())
        nat = DeterministicNat.from_json((folder / NAT_FILE).read_bytes())
    except (InvalidInput, msgspec.DecodeError) as err:
        raise InvalidInput(f"--bindings {folder}: {err}") from err
    return plan, nat


def _check_hits(hits: Path) -> None:
    """The hits Parquet has the columns the SQL reads, with HITS types (named when not)."""
    try:
        schema = ds.dataset(hits, format="parquet").schema
    except (OSError, pa.ArrowInvalid) as err:
        raise InvalidInput(f"--hits {hits}: {err}") from err
    for name in ("hit_id", "ts_ms", "src_ip", "src_port"):
        if name not in schema.names:
            raise InvalidInput(f"--hits {hits}: missing column {name}")
        want, got = HITS.field(name).type, schema.field(name).type
        if not (got == want or (pa.types.is_integer(got) and pa.types.is_integer(want))):
            raise InvalidInput(f"--hits {hits}: column {name} is {got}, expected {want}")


def resolve_batch(engine_name: str, bindings: Path, hits: Path, eps_ms: int) -> pa.Table:
    """RESOLVED_HITS for the HITS Parquet `hits` against the bindings folder `bindings`."""
    plan, nat = read_config(bindings)
    _check_hits(hits)
    engine = ENGINES[engine_name]()
    try:
        load_bindings(engine, {n: bindings / f"{n}.parquet" for n in TABLES})
        engine.load_parquet("hits_src", hits)
        return resolve_loaded(engine, plan, nat, eps_ms)
    finally:
        engine.close()
