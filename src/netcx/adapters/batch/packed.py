"""The DuckDB engine's port-block stage: A found by the packed index, not an ASOF JOIN.

The timeline rule (`netcx.domain.network.timeline.choose`) needs, per hit on the port-block
path, A = the last binding of its block key (outside ip, port_lo) starting at or before
T+ε, and P = the binding before A in the same key. `choose_block_rows` finds A's row with
the vectorised binary search of `PackedBlockIndex` (one gather per halving step, no join,
no sort of the hits); the block stage's SQL then reads A's columns, and P's as its LAG
columns, by that row number (`sql.blocks_chosen_sql` on a dialect with `packed_blocks`),
and applies the ε rule (none / boundary / ok, use P, quality, evidence) unchanged. Spark
keeps finding A with its range join: both run the same rule on the same A.

Rows are numbered by `brow` = row_number() in (ip, port_lo, start_ms) order: the index
is built from the block table read in that order, so an index row is a `brow` (the index's
own order is applied if the input was not sorted, e.g. a benchmark's Parquet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netcx.adapters.storage.bindings_packed import NONE, PackedBlockIndex

BLOCK_ROWS_SQL = """
SELECT b.ip, b.port_lo, coalesce(l.port_hi, b.port_lo) AS port_hi, b.start_ms
FROM blocks b LEFT JOIN (
    SELECT ip, port_lo, max(port_hi) AS port_hi FROM layout_in GROUP BY ip, port_lo
) l ON l.ip = b.ip AND l.port_lo = b.port_lo
ORDER BY b.brow
"""
"""The index's input: every block binding in `brow` order, with its range's last port."""

PROBES_SQL = "SELECT hit_id, ip, blk_lo AS port, t FROM hp WHERE blk_lo IS NOT NULL"
"""Hits on the port-block path with the first port of their block (stage `hp`)."""

BLOCK_A = pa.schema([("hit_id", pa.int64()), ("a_row", pa.int64())])
"""The answer of `choose_block_rows`: A's row per probe (no row: no binding started yet)."""


@dataclass(frozen=True)
class PackedBlocks:
    """Block bindings as a PackedBlockIndex keyed by (address number, port_lo); `ips` is the
    address of each number (any Arrow type: the index only compares numbers)."""

    index: PackedBlockIndex
    ips: pa.Array

    @classmethod
    def build(cls, blocks: pa.Table) -> PackedBlocks:
        """From columns ip, port_lo, port_hi, start_ms, in row order (row n = `brow` n).
        Built with ε = 0: queries ask for T+ε themselves, so one index serves any ε."""
        enc = pc.dictionary_encode(blocks.column("ip").combine_chunks())
        n = blocks.num_rows
        ids = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        cols = [blocks.column(c).to_numpy().astype(np.int64) for c in ("port_lo", "port_hi")]
        start = blocks.column("start_ms").to_numpy().astype(np.int64)
        z = np.zeros(n, np.int64)
        return cls(PackedBlockIndex(ids, cols[0], cols[1], start, z, z, 0), enc.dictionary)

    def __len__(self) -> int:
        return len(self.index)


def choose_block_rows(blocks: PackedBlocks, probes: pa.Table, eps_ms: int) -> pa.Table:
    """(hit_id, a_row) per probe (hit_id, ip, port, t): a_row = the row of A, the last
    binding of the block holding ip:port that starts at or before t + ε, or NULL when none
    (no block there, or none started yet). P is row a_row − 1 when of the same key."""
    ids = pc.index_in(probes.column("ip"), value_set=blocks.ips)
    ip = ids.fill_null(-1).to_numpy().astype(np.int64)
    port = probes.column("port").fill_null(-1).to_numpy().astype(np.int64)
    at = probes.column("t").to_numpy().astype(np.int64) + int(eps_ms)
    rows = blocks.index.last_rows_many(ip, port, at)
    order = blocks.index.order
    found = rows != NONE
    if order is not None:  # index rows → input rows
        rows[found] = order[rows[found]]
    a_row = pa.array(rows, pa.int64(), mask=~found)
    return pa.table([probes.column("hit_id").cast(pa.int64()), a_row], schema=BLOCK_A)
