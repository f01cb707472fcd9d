"""A small bindings folder and hits table for batch resolution, with hand-checked answers."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from netcx.adapters.batch.inputs import LINE_IDS
from netcx.domain.network.timeline import OPEN_END_MS
from netcx.tables import BINDING_BLOCKS, BINDING_LAYOUT, BINDING_LEASES

EPS_MS = 100

POOLS = [
    {"cidr": "198.18.0.0/15", "kind": "public_fixed"},
    {"cidr": "203.0.113.0/25", "kind": "cgnat_outside"},
    {"cidr": "203.0.113.128/26", "kind": "cgnat_deterministic"},
    {"cidr": "192.0.2.0/26", "kind": "infrastructure"},
    {"cidr": "2001:db8:4000::/34", "kind": "ipv6_mobile"},
    {"cidr": "2001:db8:8000::/33", "kind": "ipv6_fixed_pd"},
]
DET_NAT = [  # RFC 7422: 32 subscribers of 2016 ports per outside address
    {"nat_instance": "det-cgn1", "inside_vrf": "mobile", "inside_prefixes": ["100.65.0.0/22"],
     "outside_pool": ["203.0.113.128/27"], "valid_from_ms": 0}
]  # fmt: skip


def _binding(start: int, end: int, holder: str, ref: str, **kw: Any) -> dict[str, Any]:
    return {
        "start_ms": start,
        "end_ms": end,
        "confirmed_ms": kw.get("confirmed_ms", end),
        "inferred": kw.get("inferred", False),
        "holder": holder,
        "kind": kw.get("kind", "radius_session"),
        "ref": ref,
        "source": kw.get("source", "bng-01"),
        "detail": kw.get("detail", ""),
    }


# (hit_id, ip, port, t) → (level, reason, holder of the answer or None)
EXPECTED: dict[tuple[int, str, int | None, int], tuple[str, str, str | None]] = {
    (1, "198.18.0.1", None, 500): ("household", "radius", "FX1"),
    (2, "198.18.0.1", None, 1050): ("unknown", "boundary", None),
    (3, "198.18.0.1", None, 3000): ("household", "radius", "FX2"),
    (4, "203.0.113.5", 1500, 2000): ("line", "cgnat_block+radius", "MB1"),
    (5, "203.0.113.5", 1500, 4000): ("line", "cgnat_block+radius+inferred_tail", "MB1"),
    (6, "203.0.113.5", 2500, 2000): ("unknown", "no_block", None),
    (7, "203.0.113.5", None, 2000): ("unknown", "no_port", None),
    (8, "240.0.0.1", 4000, 2000): ("unknown", "not_ours", None),
    (9, "192.0.2.1", None, 2000): ("unknown", "infrastructure", None),
    (10, "198.18.0.2", None, 10): ("unknown", "unknown_line", None),
    # outside .130 = index 2 → inside index 2 × 32 + 0 = 100.65.0.64
    (11, "203.0.113.130", 1500, 10): ("line", "nat_rule+radius", "MB2"),
    (12, "198.18.0.1", None, -50): ("household", "radius+skew", "FX1"),
    (13, "203.0.113.5", 1500, 6000): ("unknown", "no_lease", None),
    (14, "203.0.113.130", None, 10): ("unknown", "no_port", None),
    (15, "203.0.113.130", 1000, 10): ("unknown", "no_block", None),  # below first_port
    (16, "203.0.113.160", 1500, 10): ("unknown", "no_rule", None),  # pool, but no rule
    (17, "2001:db8:4400:12::5", None, 2000): ("line", "ipv6_prefix", "MB1"),
    (18, "2001:db8:8000:12ff::1", None, 500): ("household", "ipv6_prefix", "FX1"),
    (19, "2001:db8:8000:12ff::1", None, 3000): ("unknown", "no_lease", None),
    (20, "2001:db9::1", None, 10): ("unknown", "not_ours", None),
}


def write_world(folder: Path, random_hits: int = 0, seed: int = 7) -> tuple[Path, Path]:
    """Write `folder/bindings/*` and `folder/hits.parquet`; return both paths."""
    b = folder / "bindings"
    b.mkdir(parents=True, exist_ok=True)
    leases = [
        {"ctx": "", "addr": "198.18.0.1", **_binding(0, 1000, "FX1", "s1")},
        {"ctx": "", "addr": "198.18.0.1", **_binding(1000, OPEN_END_MS, "FX2", "s2")},
        {"ctx": "", "addr": "198.18.0.2", **_binding(0, OPEN_END_MS, "?bng-01:x", "s3")},
        {
            "ctx": "mobile",
            "addr": "100.64.0.1",
            **_binding(0, 5000, "MB1", "s4", inferred=True, confirmed_ms=3000, source="pgw-01"),
        },
        {"ctx": "mobile", "addr": "100.65.0.64", **_binding(0, 5000, "MB2", "s5")},
        {"ctx": "", "addr": "2001:db8:4400:12::/64",
         **_binding(0, 5000, "MB1", "s4", kind="ipv6_prefix", detail="framed_ipv6_prefix")},
        {"ctx": "", "addr": "2001:db8:8000:1200::/56",
         **_binding(0, 1000, "FX1", "s1", kind="ipv6_prefix", detail="delegated_ipv6_prefix")},
    ]  # fmt: skip
    blocks = [
        {
            "ip": "203.0.113.5",
            "port_lo": 1024,
            **_binding(0, OPEN_END_MS, "mobile|100.64.0.1", "b1", kind="port_block", source="srx"),
            "inside_vrf": "mobile",
            "inside_ip": "100.64.0.1",
        }
    ]
    layout = [  # two contiguous blocks (step 1); only the first was ever allocated
        {"ip": "203.0.113.5", "port_lo": 1024, "port_hi": 2047, "step": 1},
        {"ip": "203.0.113.5", "port_lo": 2048, "port_hi": 3071, "step": 1},
    ]
    lines = [
        {"holder": h, "line_p": f"ln1_{h}", "sub_p": f"sb1_{h}", "hh_p": f"hh1_{h}",
         "acc_p": f"ac1_{h}", "fixed": h.startswith("FX")}
        for h in ("FX1", "FX2", "MB1", "MB2")
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(leases, BINDING_LEASES), b / "leases.parquet")
    pq.write_table(pa.Table.from_pylist(blocks, BINDING_BLOCKS), b / "blocks.parquet")
    pq.write_table(pa.Table.from_pylist(layout, BINDING_LAYOUT), b / "layout.parquet")
    pq.write_table(pa.Table.from_pylist(lines, LINE_IDS), b / "lines.parquet")
    (b / "address_plan.json").write_text(json.dumps({"pools": POOLS}))
    (b / "deterministic_nat.json").write_text(json.dumps(DET_NAT))
    rng = random.Random(seed)
    hits = [(k[0], k[1], k[2], k[3]) for k in EXPECTED]
    addresses = ["198.18.0.1", "198.18.0.2", "203.0.113.5", "192.0.2.1", "240.0.0.9",
                 "203.0.113.130", "2001:db8:4400:12::5", "2001:db8:8000:12ff::1"]  # fmt: skip
    for i in range(random_hits):
        port = rng.choice([None, rng.randint(1000, 3100)])
        hits.append((1000 + i, rng.choice(addresses), port, rng.randint(-300, 7000)))
    table = pa.table(
        {
            "hit_id": pa.array([h[0] for h in hits], pa.int64()),
            "ts_ms": pa.array([h[3] for h in hits], pa.int64()),
            "src_ip": pa.array([h[1] for h in hits], pa.string()),
            "src_port": pa.array([h[2] for h in hits], pa.int32()),
        }
    )
    pq.write_table(table, folder / "hits.parquet")
    return b, folder / "hits.parquet"
