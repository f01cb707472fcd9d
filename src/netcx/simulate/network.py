"""The simulated access network: address plan, sessions (leases), port blocks and RADIUS records.

Every line's network sessions come from a *rotation*: lines are grouped (8 per group) and
the group's addresses (lanes) and CGNAT port blocks (slots) are handed round among its lines
at the group's epoch boundaries. Holdings of one lane therefore never overlap, consecutive
holders of an address or block are different lines, and handovers happen with gaps of 0 s to
a few minutes — the IP reuse and block re-allocation a resolver must get right.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from netcx import tables
from netcx.simulate import fmt
from netcx.simulate.params import DAY_S, WorldParams
from netcx.simulate.population import Population, fixed_user_names, imsis, msisdns

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

GROUP = 8
# Path kinds of a holding.
FIXED_PUBLIC, MOBILE_PBA, MOBILE_DET = 0, 1, 2

BLOCK_PORTS = 256
FIRST_PORT = 1024
SLOTS_PER_IP = (65536 - FIRST_PORT) // BLOCK_PORTS  # 252
DET_PORTS = 2016
DET_PER_IP = (65536 - FIRST_PORT) // DET_PORTS  # 32

NAS = [
    {"nas_ip": "192.0.2.10", "nas_identifier": "bng-01", "access": "fixed", "vrf": "fixed"},
    {"nas_ip": "192.0.2.11", "nas_identifier": "bng-02", "access": "fixed", "vrf": "fixed"},
    {"nas_ip": "192.0.2.20", "nas_identifier": "pgw-01", "access": "mobile", "vrf": "mobile"},
    {
        "nas_ip": "192.0.2.21",
        "nas_identifier": "pgw-02",
        "access": "mobile",
        "vrf": "mobile-det",
    },
]
BNG1, BNG2, PGW_PBA, PGW_DET = 0, 1, 2, 3
REBOOT_NAS = BNG2  # sends one Accounting-On mid-world
APN = "internet.example"

# NAT instances with port-block logs: one vendor syslog format each.
NAT_INSTANCES = [
    ("srx-cgn1", "juniper_srx", "198.19.0.0/20", "100.64.0.0/14"),
    ("mx-cgn2", "juniper_msmpc", "198.19.16.0/20", "100.68.0.0/14"),
    ("a10-cgn3", "a10_cef", "198.19.32.0/20", "100.72.0.0/14"),
]
DET_INSTANCE = "det-cgn1"
DET_OUTSIDE = "198.19.64.0/20"
# Deliberately the same inside space as srx-cgn1, in another VRF: inside addresses are only
# unique per routing context.
DET_INSIDE = "100.64.0.0/14"
PUBLIC_FIXED = "198.18.0.0/16"
IPV6_MOBILE = "2001:db8:4000::/34"
IPV6_FIXED_PD = "2001:db8:8000::/34"  # clear of the foreign 2001:db8:f000::/36
INFRASTRUCTURE = "192.0.2.0/24"
MONITOR_FIRST = int(IPv4Address("192.0.2.100"))
TERMINATE = ["User-Request", "Lost-Carrier", "Idle-Timeout", "Session-Timeout", "Port-Error"]


def _base(cidr: str) -> int:
    return int(IPv4Network(cidr).network_address)


@dataclass
class Holdings:
    """One row per network session of a line (a lease), with its address and port block."""

    line: IntArray
    path: IntArray  # FIXED_PUBLIC | MOBILE_PBA | MOBILE_DET
    nas: IntArray
    instance: IntArray  # index into NAT_INSTANCES for MOBILE_PBA, else -1
    lane: IntArray  # address lane, unique within (path, instance)
    slot: IntArray  # port-block slot within instance, -1 if none
    start_s: IntArray
    end_s: IntArray
    block_start_s: IntArray  # port block for MOBILE_PBA, the session otherwise
    block_end_s: IntArray
    framed_ip: IntArray  # IPv4 given by RADIUS (public for fixed, inside for mobile)
    outside_ip: IntArray  # public address the web sees for IPv4
    port_lo: IntArray
    port_hi: IntArray
    v6_index: IntArray  # /64 (mobile) or /56 (fixed PD) counter
    lost_start: BoolArray = field(default_factory=lambda: np.zeros(0, bool))
    lost_stop: BoolArray = field(default_factory=lambda: np.zeros(0, bool))
    closed_by_reboot: BoolArray = field(default_factory=lambda: np.zeros(0, bool))
    last_seen_s: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.line)

    def take(self, idx: IntArray) -> Holdings:
        return Holdings(**{k: v[idx] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list[Holdings]) -> Holdings:
        keys = parts[0].__dict__.keys()
        return Holdings(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in keys})


@dataclass(frozen=True)
class Network:
    holdings: Holdings
    radius: RadiusRecords
    reboot_s: int
    cgnat: dict[str, pa.Table]  # nat_instance → events (event, ts_s, inside, outside, lo, hi)
    address_plan: dict[str, Any]
    deterministic_nat: list[dict[str, Any]]


def _rotate(
    lines: IntArray,
    epoch_mean_s: int,
    p_offline: float,
    t0: int,
    t1: int,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """(line, lane, slot, start_s, end_s) of every session of `lines` overlapping [t0, t1)."""
    n = len(lines)
    g_count = -(-n // GROUP)
    e_count = int(np.ceil((t1 - t0) / (0.5 * epoch_mean_s))) + 3
    lengths = rng.integers(epoch_mean_s // 2, epoch_mean_s * 3 // 2, (g_count, e_count))
    offsets = rng.integers(0, epoch_mean_s, g_count)
    bounds = np.concatenate([np.zeros((g_count, 1), np.int64), np.cumsum(lengths, axis=1)], 1)
    bounds = bounds + (t0 - offsets)[:, None]
    shift = rng.integers(0, GROUP, (g_count, e_count))
    shift2 = rng.integers(0, GROUP, (g_count, e_count))
    g, e, k = (
        a.ravel()
        for a in np.meshgrid(
            np.arange(g_count), np.arange(e_count), np.arange(GROUP), indexing="ij"
        )
    )
    member = g * GROUP + k
    size = len(member)
    # Release a little before and acquire a little after the boundary: 0 s (a third of the
    # time) up to minutes, so the pool re-uses an address within seconds or minutes.
    acquire = np.where(rng.random(size) < 0.35, 0, np.ceil(rng.exponential(40.0, size)))
    release = np.where(rng.random(size) < 0.35, 0, np.ceil(rng.exponential(40.0, size)))
    start = bounds[g, e] + acquire.astype(np.int64)
    end = bounds[g, e + 1] - release.astype(np.int64)
    # Absences (holidays, a router switched off) of 3-9 days leave long gaps on some lanes.
    away = rng.random(g_count * GROUP) < 0.06
    away_from = t0 + rng.integers(0, max(t1 - t0, 1), g_count * GROUP)
    away_to = away_from + rng.integers(3 * DAY_S, 9 * DAY_S, g_count * GROUP)
    absent = (
        away[member] & (bounds[g, e + 1] > away_from[member]) & (bounds[g, e] < away_to[member])
    )
    online = (rng.random(size) >= p_offline) & ~absent
    keep = (member < n) & online & (end > t0) & (start < t1)
    lane = g * GROUP + (k + shift[g, e]) % GROUP
    slot = g * GROUP + (k + shift2[g, e]) % GROUP
    return (
        lines[member[keep]],
        lane[keep].astype(np.int64),
        slot[keep].astype(np.int64),
        start[keep].astype(np.int64),
        end[keep].astype(np.int64),
    )


def _holdings(
    path: int,
    nas: IntArray,
    instance: int,
    rot: tuple[IntArray, IntArray, IntArray, IntArray, IntArray],
    rng: np.random.Generator,
) -> Holdings:
    line, lane, slot, start, end = rot
    n = len(line)
    if path == FIXED_PUBLIC:
        base = _base(PUBLIC_FIXED)
        framed = base + (lane // 250) * 256 + 1 + lane % 250
        outside = framed
        lo, hi = np.zeros(n, np.int64), np.full(n, 65535, np.int64)
        bstart, bend, slot = start, end, np.full(n, -1, np.int64)
    elif path == MOBILE_PBA:
        _, _, outside_cidr, inside_cidr = NAT_INSTANCES[instance]
        framed = _base(inside_cidr) + 1 + lane
        outside = _base(outside_cidr) + 1 + slot // SLOTS_PER_IP
        lo = FIRST_PORT + (slot % SLOTS_PER_IP) * BLOCK_PORTS
        hi = lo + BLOCK_PORTS - 1
        # The block is allocated with the first flow and released when the session ends.
        bstart = start + rng.integers(0, 3, n)
        bend = end - rng.integers(0, 2, n)
    else:
        k = lane + 1
        framed = _base(DET_INSIDE) + k
        outside = _base(DET_OUTSIDE) + k // DET_PER_IP
        lo = FIRST_PORT + (k % DET_PER_IP) * DET_PORTS
        hi = lo + DET_PORTS - 1
        bstart, bend, slot = start, end, np.full(n, -1, np.int64)
    return Holdings(
        line=line,
        path=np.full(n, path, np.int64),
        nas=nas,
        instance=np.full(n, instance, np.int64),
        lane=lane,
        slot=slot,
        start_s=start,
        end_s=end,
        block_start_s=bstart.astype(np.int64),
        block_end_s=bend.astype(np.int64),
        framed_ip=framed.astype(np.int64),
        outside_ip=outside.astype(np.int64),
        port_lo=np.asarray(lo, np.int64),
        port_hi=np.asarray(hi, np.int64),
        v6_index=np.zeros(n, np.int64),
    )


def _split_at_reboot(h: Holdings, reboot_s: int, rng: np.random.Generator) -> Holdings:
    """Sessions of the rebooting NAS end at the reboot; the line reconnects (same address)."""
    hit = (h.nas == REBOOT_NAS) & (h.start_s < reboot_s) & (h.end_s > reboot_s)
    before = h.take(np.flatnonzero(hit))
    after = h.take(np.flatnonzero(hit))
    before.end_s = np.full(len(before), reboot_s, np.int64)
    before.block_end_s = before.end_s.copy()
    before.closed_by_reboot = np.ones(len(before), bool)
    after.start_s = reboot_s + rng.integers(20, 600, len(after))
    after.block_start_s = after.start_s.copy()
    after = after.take(np.flatnonzero(after.end_s - after.start_s > 120))
    rest = h.take(np.flatnonzero(~hit))
    return Holdings.concat([rest, before, after])


def build_holdings(pop: Population, p: WorldParams, rng: np.random.Generator) -> Holdings:
    t0, t1 = p.start_s, p.end_s
    fixed = pop.fixed_lines
    mobile = pop.mobile_lines
    det_mask = rng.random(len(mobile)) < 0.15
    parts: list[Holdings] = []
    rot = _rotate(fixed, 4 * DAY_S, 0.05, t0, t1, rng)
    nas = np.where((rot[1] // GROUP) % 2 == 0, BNG1, BNG2).astype(np.int64)
    parts.append(_holdings(FIXED_PUBLIC, nas, -1, rot, rng))
    pba = mobile[~det_mask]
    which = rng.integers(0, len(NAT_INSTANCES), len(pba))
    for i in range(len(NAT_INSTANCES)):
        rot = _rotate(pba[which == i], 3 * DAY_S, 0.08, t0, t1, rng)
        parts.append(_holdings(MOBILE_PBA, np.full(len(rot[0]), PGW_PBA), i, rot, rng))
    rot = _rotate(mobile[det_mask], 3 * DAY_S, 0.08, t0, t1, rng)
    parts.append(_holdings(MOBILE_DET, np.full(len(rot[0]), PGW_DET), -1, rot, rng))
    h = Holdings.concat([_with_flags(part) for part in parts])
    h = _split_at_reboot(h, reboot_s(p), rng)
    h = h.take(np.lexsort((h.start_s, h.line)))
    # A fresh /64 (mobile) or /56 (fixed) per session, counted per pool.
    fixed_rank = np.cumsum(h.path == FIXED_PUBLIC) - 1
    mobile_rank = np.cumsum(h.path != FIXED_PUBLIC) - 1
    h.v6_index = np.where(h.path == FIXED_PUBLIC, fixed_rank, mobile_rank).astype(np.int64)
    return h


def reboot_s(p: WorldParams) -> int:
    return p.start_s + int((p.end_s - p.start_s) * 0.55)


def _with_flags(h: Holdings) -> Holdings:
    n = len(h)
    h.lost_start = np.zeros(n, bool)
    h.lost_stop = np.zeros(n, bool)
    h.closed_by_reboot = np.zeros(n, bool)
    h.last_seen_s = np.zeros(n, np.int64)
    return h


def _interims(h: Holdings, interval: int, t0: int, t1: int) -> tuple[IntArray, IntArray]:
    """(holding index, event time) of every Interim-Update inside [t0, t1)."""
    count = np.maximum((h.end_s - h.start_s - 1) // interval, 0)
    # Skip the interims before t0 without materialising them.
    first = np.maximum(np.ceil((t0 - h.start_s) / interval), 1).astype(np.int64)
    last = np.minimum(count, (t1 - 1 - h.start_s) // interval)
    n = np.maximum(last - first + 1, 0)
    idx = np.repeat(np.arange(len(h), dtype=np.int64), n)
    k = first[idx] + fmt.group_ranks(n)
    return idx, h.start_s[idx] + k * interval


@dataclass(frozen=True)
class RadiusRecords:
    """Accounting records: the RADIUS table (session attributes dictionary-encoded) plus, per
    record, its session (-1 for Accounting-On) and the per-session attribute strings."""

    table: pa.Table
    session: IntArray
    session_attrs: dict[str, pa.Array]


def build_radius(
    h: Holdings, pop: Population, p: WorldParams, rng: np.random.Generator
) -> RadiusRecords:
    """Start / Interim-Update / Stop / Accounting-On records, with loss, delay and duplicates."""
    t1, interval = p.end_s, p.interim_interval_s
    n = len(h)
    # Logs begin with the Start of every session still live at t0, so everything a hit in the
    # window needs is in them.
    i_idx, i_ts = _interims(h, interval, int(h.start_s.min()), t1)
    has_interim = np.bincount(i_idx, minlength=n) > 0
    stop_in = (h.end_s < t1) & ~h.closed_by_reboot
    start_in = np.ones(n, bool)
    # A lost Start is reconstructible (start = event - Acct-Session-Time) only if a later
    # record of the session exists; lost Start and lost Stop never hit the same session.
    u = rng.random(n)
    h.lost_start = start_in & (u < 0.01) & (has_interim | stop_in)
    h.lost_stop = stop_in & (u >= 0.01) & (u < 0.03)
    start_rec = start_in & ~h.lost_start
    stop_rec = stop_in & ~h.lost_stop
    s_idx = np.flatnonzero(start_rec)
    e_idx = np.flatnonzero(stop_rec)
    status = np.concatenate(
        [np.zeros(len(s_idx)), np.ones(len(i_idx)), np.full(len(e_idx), 2)]
    ).astype(np.int64)
    hidx = np.concatenate([s_idx, i_idx, e_idx])
    event = np.concatenate([h.start_s[s_idx], i_ts, h.end_s[e_idx]])
    last_seen = np.full(n, -1, np.int64)
    np.maximum.at(last_seen, hidx, event)
    h.last_seen_s = last_seen
    # The NAS that reboots sends one Accounting-On (no session: holding index -1).
    status = np.append(status, 3)
    hidx = np.append(hidx, -1)
    event = np.append(event, reboot_s(p))
    # Retransmissions: the same record again, a few seconds later at the collector.
    dup = np.flatnonzero((rng.random(len(hidx)) < 0.004) & (hidx >= 0))
    status = np.concatenate([status, status[dup]])
    hidx = np.concatenate([hidx, hidx[dup]])
    event = np.concatenate([event, event[dup]])
    m = len(hidx)
    r = rng.random(m)
    delay = np.where(
        r < 0.9, 0, np.where(r < 0.98, rng.integers(1, 10, m), rng.integers(10, 300, m))
    )
    delay[m - len(dup) :] = delay[dup]
    arrival_ms = (event + delay) * 1000 + rng.integers(0, 400, m)
    arrival_ms[m - len(dup) :] += rng.integers(1000, 5000, len(dup))
    order = np.lexsort((hidx, arrival_ms))
    status, hidx, event, delay, arrival_ms = (
        a[order] for a in (status, hidx, event, delay, arrival_ms)
    )
    none = hidx < 0
    safe = np.where(none, 0, hidx)
    nas = np.where(none, REBOOT_NAS, h.nas[safe])
    session_time = np.where(status == 0, 0, event - h.start_s[safe])
    cause = rng.choice(len(TERMINATE), m, p=[0.5, 0.25, 0.1, 0.1, 0.05])
    per_session = _session_strings(h)
    # Session-level attributes stay dictionary-encoded on the session (no per-row copies).
    radius = pa.table(
        {
            "status": fmt.categorical(["Start", "Interim-Update", "Stop", "Accounting-On"], status),
            "nas_ip": fmt.categorical([x["nas_ip"] for x in NAS], nas),
            "nas_identifier": fmt.categorical([x["nas_identifier"] for x in NAS], nas),
            **{name: fmt.categorical(col, safe, ~none) for name, col in per_session.items()},
            "event_ts_s": event,
            "delay_s": delay.astype(np.int32),
            "session_time_s": pa.array(session_time, mask=(status == 0) | none),
            "terminate_cause": fmt.categorical(TERMINATE, cause, status == 2),
            "arrival_ms": arrival_ms,
        }
    )
    return RadiusRecords(radius.select(tables.RADIUS.names), np.where(none, -1, hidx), per_session)


def _session_strings(h: Holdings) -> dict[str, pa.Array]:
    """The identity and address attributes of each session, formatted once per session."""
    n = len(h)
    line = h.line
    mobile = h.path != FIXED_PUBLIC
    v6 = h.v6_index
    c2001, cdb8 = np.full(n, 0x2001), np.full(n, 0xDB8)
    prefix64 = fmt.ipv6_groups([c2001, cdb8, 0x4000 + (v6 >> 16), v6 & 0xFFFF], "/64")
    prefix56 = fmt.ipv6_groups([c2001, cdb8, 0x8000 + (v6 >> 8), (v6 & 0xFF) << 8], "/56")
    # The holding index is unique, so it serves as the per-NAS session counter.
    session_id = fmt.join(
        fmt.hex32(h.nas + 0x0A0B0C00), "-", fmt.hex32(np.arange(n, dtype=np.int64))
    )
    return {
        "session_id": session_id,
        "user_name": fmt.nullify(fixed_user_names(line), ~mobile),
        "calling_station_id": fmt.nullify(msisdns(line), mobile),
        "called_station_id": fmt.nullify(pa.array([APN] * n, pa.string()), mobile),
        "framed_ip": fmt.ipv4(h.framed_ip),
        "framed_ipv6_prefix": fmt.nullify(prefix64, mobile),
        "delegated_ipv6_prefix": fmt.nullify(prefix56, ~mobile),
        "imsi": fmt.nullify(imsis(line), mobile),
        "imeisv": fmt.nullify(fmt.dec(3_534_900_600_000_000 + line * 100 + 1), mobile),
    }


def build_cgnat(h: Holdings, p: WorldParams) -> dict[str, pa.Table]:
    """Port-block allocation and release events per NAT instance (inside the world window)."""
    out: dict[str, pa.Table] = {}
    for i, (name, _, _, _) in enumerate(NAT_INSTANCES):
        sel = np.flatnonzero((h.path == MOBILE_PBA) & (h.instance == i))
        alloc = sel  # every block live in the window, even if allocated before it
        rel = sel[h.block_end_s[sel] < p.end_s]
        idx = np.concatenate([alloc, rel])
        kind = np.concatenate([np.zeros(len(alloc)), np.ones(len(rel))]).astype(np.int64)
        ts = np.concatenate([h.block_start_s[alloc], h.block_end_s[rel]])
        # Count of blocks the host holds after the event (one block per session here).
        # Within one second a release is logged before an allocation: the block (and the
        # inside address) may pass to the next line in the same second.
        order = np.lexsort((1 - kind, ts))
        idx, kind, ts = idx[order], kind[order], ts[order]
        out[name] = pa.table(
            {
                "event": fmt.pick(["alloc", "release"], kind),
                "ts_s": ts,
                "inside_ip": fmt.ipv4(h.framed_ip[idx]),
                "outside_ip": fmt.ipv4(h.outside_ip[idx]),
                "port_lo": h.port_lo[idx],
                "port_hi": h.port_hi[idx],
                "blocks_after": 1 - kind,
            }
        )
    return out


def address_plan(p: WorldParams) -> dict[str, Any]:
    nas = [dict(x, interim_interval_s=p.interim_interval_s) for x in NAS]
    pools: list[dict[str, Any]] = [
        {
            "cidr": outside,
            "kind": "cgnat_outside",
            "nat_instance": name,
            "inside_vrf": "mobile",
            "inside_prefixes": [inside],
            "log_format": log_format,
            "block_size": BLOCK_PORTS,
            "first_port": FIRST_PORT,
        }
        for name, log_format, outside, inside in NAT_INSTANCES
    ]
    pools += [
        {
            "cidr": DET_OUTSIDE,
            "kind": "cgnat_deterministic",
            "nat_instance": DET_INSTANCE,
            "inside_vrf": "mobile-det",
        },
        {"cidr": PUBLIC_FIXED, "kind": "public_fixed", "inside_vrf": "fixed"},
        {"cidr": IPV6_MOBILE, "kind": "ipv6_mobile"},
        {"cidr": IPV6_FIXED_PD, "kind": "ipv6_fixed_pd"},
        {"cidr": INFRASTRUCTURE, "kind": "infrastructure"},
    ]
    return {
        "operator": {"name": "Example Telco", "mcc": "001", "mnc": "01"},
        "nas": nas,
        "pools": pools,
    }


def deterministic_nat(p: WorldParams) -> list[dict[str, Any]]:
    return [
        {
            "nat_instance": DET_INSTANCE,
            "inside_vrf": "mobile-det",
            "inside_prefixes": [DET_INSIDE],
            "outside_pool": [DET_OUTSIDE],
            "first_port": FIRST_PORT,
            "ports_per_subscriber": DET_PORTS,
            "subscribers_per_address": DET_PER_IP,
            "algorithm": "rfc7422-sequential",
            "valid_from_ms": (p.start_s - 365 * DAY_S) * 1000,
            "valid_to_ms": None,
        }
    ]


def build_network(pop: Population, p: WorldParams, rng: np.random.Generator) -> Network:
    h = build_holdings(pop, p, rng)
    radius = build_radius(h, pop, p, rng)
    return Network(
        holdings=h,
        radius=radius,
        reboot_s=reboot_s(p),
        cgnat=build_cgnat(h, p),
        address_plan=address_plan(p),
        deterministic_nat=deterministic_nat(p),
    )
