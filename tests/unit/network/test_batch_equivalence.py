"""The DuckDB batch resolver gives exactly the real-time resolver's answers (property test)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcx.adapters.storage.bindings_duckdb import DuckDbBatchResolver
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory
from netcx.domain.network.leases import LeasePolicy
from netcx.domain.network.plan import AddressPlan
from netcx.domain.network.records import AccountingRecord, BlockEvent
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.domain.resolution import Evidence
from netcx.tables import HITS

from .builders import FIXED_NAS, MOBILE_NAS, T0, make_resolver
from .conftest import DET_NAT, LINES, PLAN

S = 1000
MOBILE_IDS = ["447700900123", "447700900456", "999000111"]
FIXED_IDS = ["line-0042@isp.example", "line-0043@isp.example"]
PUBLIC = ["198.18.0.1", "198.18.0.2"]
INSIDE = ["100.64.0.1", "100.64.0.2", "100.65.0.33"]
V6_MOBILE = ["2001:db8:4400:12::/64", "2001:db8:4400:13::/64"]
V6_PD = ["2001:db8:8000:1200::/56"]
OUTSIDE = "203.0.113.5"
DET_OUT = DeterministicNat.from_json(DET_NAT).forward("100.65.0.33", T0)
assert DET_OUT is not None

times = st.integers(min_value=0, max_value=80).map(lambda k: T0 + k * 500)


@st.composite
def session(draw: st.DrawFn, sid: int) -> list[AccountingRecord]:
    is_fixed = draw(st.booleans())
    start = draw(times)
    kw: dict[str, str] = {}
    if is_fixed:
        nas, who = FIXED_NAS, {"user_name": draw(st.sampled_from(FIXED_IDS))}
        kw["framed_ip"] = draw(st.sampled_from(PUBLIC))
        if draw(st.booleans()):
            kw["delegated_ipv6_prefix"] = V6_PD[0]
    else:
        nas, who = MOBILE_NAS, {"calling_station_id": draw(st.sampled_from(MOBILE_IDS))}
        kw["framed_ip"] = draw(st.sampled_from(INSIDE))
        if draw(st.booleans()):
            kw["framed_ipv6_prefix"] = draw(st.sampled_from(V6_MOBILE))
    status_times = [("Start", start)] if draw(st.booleans()) or True else []
    t = start
    for _ in range(draw(st.integers(0, 2))):
        t += draw(st.integers(1, 40)) * 500
        status_times.append(("Interim-Update", t))
    if draw(st.booleans()):
        status_times.append(("Stop", t + draw(st.integers(0, 40)) * 500))
    if not draw(st.booleans()):
        status_times = status_times[1:] or status_times  # lost Start
    return [
        AccountingRecord(  # type: ignore[misc]
            status=status,
            nas_ip=nas,
            event_ms=at,
            session_id=f"S{sid}",
            session_time_s=(at - start) // S,
            **who,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )
        for status, at in status_times
    ]


@st.composite
def block_events(draw: st.DrawFn) -> list[BlockEvent]:
    out = []
    for _ in range(draw(st.integers(0, 8))):
        lo = draw(st.sampled_from([1024, 1152]))
        out.append(
            BlockEvent(
                event=draw(st.sampled_from(["alloc", "alloc", "release", "interim"])),
                at_ms=draw(times),
                nat_instance="srx-cgn1",
                inside_ip=draw(st.sampled_from(INSIDE[:2])),
                outside_ip=OUTSIDE,
                port_lo=lo,
                port_hi=lo + 127,
            )
        )
    return out


HIT_ADDRS = [
    *PUBLIC,
    *PUBLIC,
    OUTSIDE,
    OUTSIDE,
    OUTSIDE,
    DET_OUT[0],
    DET_OUT[0],
    "2001:db8:4400:12::5",
    "2001:db8:4400:13:1::9",
    "2001:db8:8000:12ff::1",
    "2001:db8:9000::1",
    "240.0.0.1",
    "192.0.2.20",
    "2001:db9::1",
]
hit_ports = st.sampled_from(
    [None, 1024, 1100, 1200, 1300, DET_OUT[1], DET_OUT[1] + 7, DET_OUT[2] + 1]
)


@st.composite
def scenario(
    draw: st.DrawFn,
) -> tuple[list[AccountingRecord], list[BlockEvent], list[tuple[str, int | None, int]]]:
    n = draw(st.integers(0, 7))
    records = [r for i in range(n) for r in draw(session(i))]
    events = draw(block_events())
    if draw(st.booleans()):
        records.append(
            AccountingRecord(status="Accounting-On", nas_ip=MOBILE_NAS, event_ms=draw(times))
        )
    anchors = sorted({r.event_ms for r in records} | {e.at_ms for e in events}) or [T0]
    hit_times = st.tuples(st.sampled_from(anchors), st.integers(-50, 50)).map(
        lambda a: a[0] + a[1] * 250
    )
    hits = draw(
        st.lists(
            st.tuples(st.sampled_from(HIT_ADDRS), hit_ports, hit_times), min_size=1, max_size=30
        )
    )
    return records, events, hits


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    case=scenario(),
    eps_ms=st.sampled_from([0, 500, 2000]),
    packed_after=st.none() | st.integers(0, 8),
)
def test_batch_equals_realtime(
    tmp_path: Path,
    case: tuple[list[AccountingRecord], list[BlockEvent], list[tuple[str, int | None, int]]],
    eps_ms: int,
    packed_after: int | None,
) -> None:
    """Batch = real-time, and the live resolver's packed base + delta (compacted after
    `packed_after` block events) = the plain timelines, answer for answer."""
    records, events, hits = case
    plan = AddressPlan.from_json(
        {**PLAN, "nas": [{**n, "interim_interval_s": 10} for n in PLAN["nas"]]}  # type: ignore[dict-item]
    )
    nat = DeterministicNat.from_json(DET_NAT)
    directory = LineDirectory(LINES)
    p = Pseudonymizer({"k1": b"k"}, "k1")
    rt = make_resolver(
        plan, nat, directory, p, records, events, eps_ms=eps_ms,
        policy=LeasePolicy(lease_end_grace_ms=1000, interim_interval_ms=10_000),
    )  # fmt: skip
    live = make_resolver(
        plan, nat, directory, p, records, events, eps_ms=eps_ms,
        policy=LeasePolicy(lease_end_grace_ms=1000, interim_interval_ms=10_000),
        packed_after=packed_after,
    )  # fmt: skip
    table = hits_table(hits)
    batch = DuckDbBatchResolver(live, tmp_path).resolve_hits(table).to_pylist()
    assert [row["hit_id"] for row in batch] == list(range(len(hits)))
    for row, (ip, port, t) in zip(batch, hits, strict=True):
        want = rt.resolve(ip, port, t)
        assert live.resolve(ip, port, t) == want, (ip, port, t)
        got_evidence = msgspec.convert(msgspec.json.decode(row["evidence"]), list[Evidence])
        assert (row["level"], row["reason"]) == (want.level.value, want.reason), (ip, port, t)
        assert row["confidence"] == np.float32(want.confidence)
        assert (row["line_id"], row["subscriber_id"], row["household_id"], row["account_id"]) == (
            want.line_id,
            want.subscriber_id,
            want.household_id,
            want.account_id,
        )
        assert got_evidence == list(want.evidence), (ip, port, t)


def hits_table(hits: list[tuple[str, int | None, int]]) -> pa.Table:
    n = len(hits)
    cols: dict[str, list[object]] = {f.name: [None] * n for f in HITS}
    cols["hit_id"] = list(range(n))
    cols["ts_ms"] = [h[2] for h in hits]
    cols["src_ip"] = [h[0] for h in hits]
    cols["src_port"] = [h[1] for h in hits]
    return pa.table(cols, schema=HITS)


def test_batch_answers_every_hit_even_with_bad_addresses(tmp_path: Path) -> None:
    plan = AddressPlan.from_json(PLAN)
    rt = make_resolver(
        plan, DeterministicNat.from_json(DET_NAT), LineDirectory(LINES),
        Pseudonymizer({"k1": b"k"}, "k1"), [],
    )  # fmt: skip
    table = hits_table([("not-an-ip", 1, T0), ("zz::1:", None, T0), ("240.0.0.1", 5, T0)])
    table = table.set_column(
        table.schema.get_field_index("src_ip"), "src_ip", pa.array([None, "zz::1:", "240.0.0.1"])
    )
    out = DuckDbBatchResolver(rt, tmp_path).resolve_hits(table).to_pylist()
    assert [(r["hit_id"], r["level"], r["reason"]) for r in out] == [
        (0, "unknown", "invalid_ip"),
        (1, "unknown", "invalid_ip"),
        (2, "unknown", "not_ours"),
    ]
