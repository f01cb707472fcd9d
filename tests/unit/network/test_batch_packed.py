"""The DuckDB engine's packed port-block stage: A rows by definition, and batch = real-time
for hits packed around every block event (where A, P and ε matter most)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcx.adapters.batch.packed import PackedBlocks, choose_block_rows
from netcx.adapters.storage.bindings_duckdb import DuckDbBatchResolver
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory
from netcx.domain.network.plan import AddressPlan
from netcx.domain.network.records import AccountingRecord, BlockEvent
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.domain.resolution import Evidence

from .builders import MOBILE_NAS, T0, make_resolver
from .conftest import DET_NAT, LINES, PLAN
from .test_batch_equivalence import hits_table

IPS = ["203.0.113.5", "203.0.113.6", "203.0.113.77"]
LOS = [1024, 1152, 2048]


@st.composite
def block_rows(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    """(ip, port_lo, start_ms) rows: keys with 0..4 bindings each (distinct starts)."""
    rows = []
    for ip in IPS[:2]:
        for lo in LOS[:2]:
            starts = draw(st.sets(st.integers(0, 40), max_size=4))
            rows += [(ip, lo, T0 + s * 500) for s in starts]
    return draw(st.permutations(rows)) if draw(st.booleans()) else sorted(rows)


@settings(max_examples=200, deadline=None)
@given(
    rows=block_rows(),
    probes=st.lists(
        st.tuples(
            st.sampled_from(IPS),
            st.sampled_from([*LOS, 1100, 1300, 80, 65535]),
            st.integers(-4, 44).map(lambda k: T0 + k * 500 + 250 * (k % 2)),
        ),
        max_size=40,
    ),
    eps_ms=st.sampled_from([0, 250, 2000]),
)
def test_a_rows_are_the_last_start_at_or_before_t_plus_eps(
    rows: list[tuple[str, int, int]], probes: list[tuple[str, int, int]], eps_ms: int
) -> None:
    """A's row (in the input's row numbering) = the last binding of the block holding the
    port that starts at or before T+ε; none for a port in no block, or before any start."""
    blocks = pa.table(
        {
            "ip": pa.array([r[0] for r in rows], pa.string()),
            "port_lo": pa.array([r[1] for r in rows], pa.int32()),
            "port_hi": pa.array([r[1] + 127 for r in rows], pa.int32()),
            "start_ms": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    table = pa.table(
        {
            "hit_id": list(range(len(probes))),
            "ip": pa.array([p[0] for p in probes], pa.string()),
            "port": pa.array([p[1] for p in probes], pa.int32()),
            "t": pa.array([p[2] for p in probes], pa.int64()),
        }
    )
    got = choose_block_rows(PackedBlocks.build(blocks), table, eps_ms)
    assert got.column("hit_id").to_pylist() == list(range(len(probes)))
    for (ip, port, t), a in zip(probes, got.column("a_row").to_pylist(), strict=True):
        cands = [
            (start, n)
            for n, (bip, lo, start) in enumerate(rows)
            if bip == ip and lo <= port <= lo + 127 and start <= t + eps_ms
        ]
        assert a == (max(cands)[1] if cands else None), (ip, port, t)


INSIDE = ["100.64.0.1", "100.64.0.2"]
MSISDNS = ["447700900123", "447700900456"]
OUTSIDE = "203.0.113.5"


@st.composite
def block_story(draw: st.DrawFn) -> list[BlockEvent]:
    """Allocations, releases and interims of two blocks, with reuse by another holder."""
    out = []
    for n in range(draw(st.integers(1, 8))):
        lo = draw(st.sampled_from([1024, 1152]))
        out.append(
            BlockEvent(
                event=draw(st.sampled_from(["alloc", "alloc", "release", "interim"])),
                at_ms=T0 + draw(st.integers(0, 30)) * 1000,
                nat_instance="srx-cgn1",
                inside_ip=draw(st.sampled_from(INSIDE)),
                outside_ip=OUTSIDE,
                port_lo=lo,
                port_hi=lo + 127,
                raw_ref=f"cgn.log:{n}",
            )
        )
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(events=block_story(), eps_ms=st.sampled_from([0, 500, 2000]))
def test_batch_equals_realtime_around_block_events(
    tmp_path: Path, events: list[BlockEvent], eps_ms: int
) -> None:
    """Hits every 250 ms from 3 s before to 3 s after each block event, in both blocks and
    in no block: the packed stage gives the real-time resolver's answer every time."""
    records = [
        AccountingRecord(
            status="Start",
            nas_ip=MOBILE_NAS,
            event_ms=T0 - 60_000,
            session_id=f"s{i}",
            calling_station_id=msisdn,
            framed_ip=ip,
        )
        for i, (msisdn, ip) in enumerate(zip(MSISDNS, INSIDE, strict=True))
    ]
    plan = AddressPlan.from_json(PLAN)
    p = Pseudonymizer({"k1": b"k"}, "k1")
    rt = make_resolver(
        plan,
        DeterministicNat.from_json(DET_NAT),
        LineDirectory(LINES),
        p,
        records,
        events,
        eps_ms=eps_ms,
    )
    times = sorted({e.at_ms + k * 250 for e in events for k in range(-12, 13)})
    hits = [(OUTSIDE, port, t) for t in times for port in (1030, 1200, 1400)]
    batch = DuckDbBatchResolver(rt, tmp_path).resolve_hits(hits_table(hits)).to_pylist()
    for row, (ip, port, t) in zip(batch, hits, strict=True):
        want = rt.resolve(ip, port, t)
        assert (row["level"], row["reason"]) == (want.level.value, want.reason), (port, t)
        assert row["confidence"] == np.float32(want.confidence)
        assert row["line_id"] == want.line_id
        got = msgspec.convert(msgspec.json.decode(row["evidence"]), list[Evidence])
        assert got == list(want.evidence), (port, t)
