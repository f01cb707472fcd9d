"""Batch resolution in DuckDB over the bindings of the real-time resolver's books.

The binding tables are the books' leases and port blocks, normalised (tables.BINDING_*);
the SQL that resolves hits against them is the one of `netcx.adapters.batch.sql` (also run
on Spark by `netcx batch resolve`), so batch and real-time answers are the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from netcx.adapters.batch.engines import DuckDBEngine
from netcx.adapters.batch.inputs import line_ids
from netcx.adapters.batch.resolve import load_bindings, resolve_loaded
from netcx.domain.network.resolver import NetworkResolver
from netcx.tables import (
    BINDING_BLOCKS,
    BINDING_LAYOUT,
    BINDING_LEASES,
    HITS,
    require_columns,
)

LEASES, BLOCKS, LAYOUT = BINDING_LEASES, BINDING_BLOCKS, BINDING_LAYOUT


class DuckDbBatchResolver:
    """BatchResolver over the bindings of a NetworkResolver (same books, same answers)."""

    def __init__(
        self, resolver: NetworkResolver, work_dir: Path, memory_limit: str = "4GB"
    ) -> None:
        self.resolver = resolver
        work_dir.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(
            config={"temp_directory": str(work_dir / "duckdb-tmp"), "memory_limit": memory_limit}
        )
        self._engine = DuckDBEngine(self.con)
        self._loaded = False

    # -------------------------------------------------------- binding tables

    def lease_table(self) -> pa.Table:
        rows: dict[str, list[Any]] = {f.name: [] for f in LEASES}
        for (ctx, addr), b in self.resolver.leases.all_bindings():
            for name, value in (
                ("ctx", ctx), ("addr", addr), ("start_ms", b.start_ms), ("end_ms", b.end_ms),
                ("confirmed_ms", b.confirmed_ms), ("inferred", b.inferred_end),
                ("holder", b.holder), ("kind", b.kind), ("ref", b.ref), ("source", b.source),
                ("detail", b.detail),
            ):  # fmt: skip
                rows[name].append(value)
        return pa.table(rows, schema=LEASES)

    def block_tables(self) -> tuple[pa.Table, pa.Table]:
        rows: dict[str, list[Any]] = {f.name: [] for f in BLOCKS}
        for (ip, lo), _hi, _step, b in self.resolver.blocks.all_bindings():
            vrf, _, inside = b.holder.rpartition("|")
            for name, value in (
                ("ip", ip), ("port_lo", lo), ("start_ms", b.start_ms), ("end_ms", b.end_ms),
                ("confirmed_ms", b.confirmed_ms), ("inferred", b.inferred_end),
                ("holder", b.holder), ("kind", b.kind), ("ref", b.ref), ("source", b.source),
                ("detail", b.detail), ("inside_vrf", vrf), ("inside_ip", inside),
            ):  # fmt: skip
                rows[name].append(value)
        cols: dict[str, list[Any]] = {n: [] for n in LAYOUT.names}
        for entry in self.resolver.blocks.layout():
            for name, item in zip(LAYOUT.names, entry, strict=True):
                cols[name].append(item)
        return pa.table(rows, schema=BLOCKS), pa.table(cols, schema=LAYOUT)

    def _line_ids(self, leases: pa.Table) -> pa.Table:
        holders = pc.unique(leases.column("holder")).to_pylist()
        return line_ids(holders, self.resolver.directory.lines, self.resolver.pseudonymizer)

    def load(self, leases: pa.Table, blocks: pa.Table, layout: pa.Table) -> None:
        """Load binding tables (from the books, or directly from Parquet in benchmarks)."""
        lines = self._line_ids(leases)
        tables = {"leases": leases, "blocks": blocks, "layout": layout, "lines": lines}
        load_bindings(self._engine, tables)
        self._loaded = True

    def binding_tables(self) -> dict[str, pa.Table]:
        """The normalised tables of a bindings folder (`netcx batch bindings`)."""
        leases = self.lease_table()
        blocks, layout = self.block_tables()
        return {
            "leases": leases,
            "blocks": blocks,
            "layout": layout,
            "lines": self._line_ids(leases),
        }

    # -------------------------------------------------------- resolving

    def resolve_hits(self, hits: pa.Table) -> pa.Table:
        """RESOLVED_HITS for a HITS table (one row per hit, ordered by hit_id)."""
        hits = require_columns(hits, HITS, "web/hits")
        if not self._loaded:
            self.load(self.lease_table(), *self.block_tables())
        self._engine.load_arrow("hits_src", hits.select(["hit_id", "ts_ms", "src_ip", "src_port"]))
        return resolve_loaded(
            self._engine, self.resolver.plan, self.resolver.nat, self.resolver.eps_ms
        )
