"""Small tables the batch SQL reads besides the bindings: per-address classes, IPv6 probes,
the deterministic NAT config as address segments, and line ids as pseudonyms.

Built here once, in Python, for both engines, from the same domain objects the real-time
resolver uses (address plan, RFC 7422 config, line directory), so that the SQL never
re-implements address parsing or longest-prefix matching.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from netcx.adapters.batch.sql import CGNAT, DET, INFRA, INVALID, NOT_OURS, PUBLIC, V6
from netcx.domain.network import resolver as rules
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import FIXED, UNKNOWN_HOLDER_PREFIX, LineInfo
from netcx.domain.network.plan import (
    CGNAT_DETERMINISTIC,
    CGNAT_OUTSIDE,
    INFRASTRUCTURE,
    PUBLIC_FIXED,
    PUBLIC_MOBILE,
    AddressPlan,
    prefix_key,
)
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.errors import InvalidInput

s = pa.string()
LINE_IDS = pa.schema(
    [("holder", s), ("line_p", s), ("sub_p", s), ("hh_p", s), ("acc_p", s), ("fixed", pa.bool_())]
)
ADDRESS_CLASSES = pa.schema([("ip", s), ("cls", s), ("v6_fallback", s), ("ip_int", pa.int64())])
V6_PROBES = pa.schema([("ip", s), ("plen", pa.int32()), ("addr", s)])
NAT_OUTSIDE = pa.schema(
    [
        ("rule_no", pa.int32()),
        ("valid_from_ms", pa.int64()),
        ("valid_to_ms", pa.int64()),
        ("lo", pa.int64()),  # first address of one outside network, as an integer
        ("span", pa.int64()),  # its number of addresses
        ("first_idx", pa.int64()),  # index of its first address in the rule's outside list
        ("first_port", pa.int64()),
        ("pps", pa.int64()),  # ports per subscriber
        ("per_addr", pa.int64()),  # subscribers per outside address
        ("nat_instance", s),
        ("inside_vrf", s),
        ("ref", s),
    ]
)
NAT_INSIDE = pa.schema(
    [("rule_no", pa.int32()), ("lo", pa.int64()), ("span", pa.int64()), ("first_idx", pa.int64())]
)

_CLASS_OF_KIND = {
    PUBLIC_FIXED: PUBLIC,
    PUBLIC_MOBILE: PUBLIC,
    CGNAT_OUTSIDE: CGNAT,
    CGNAT_DETERMINISTIC: DET,
}


def address_classes(ips: Iterable[str], plan: AddressPlan) -> pa.Table:
    """Path class per distinct address (and, for IPv6, the reason when no prefix matches):
    the branches of NetworkResolver.resolve before any binding is looked at."""
    rows: dict[str, list[Any]] = {n: [] for n in ADDRESS_CLASSES.names}
    for ip in ips:
        try:
            pool = plan.pool_of(ip)
        except InvalidInput:
            cls, fallback, value = INVALID, None, None
        else:
            kind = pool.kind if pool is not None else None
            if ":" in ip:
                cls, value = V6, None
                fallback = (
                    rules.NOT_OURS
                    if pool is None
                    else (rules.INFRA if kind == INFRASTRUCTURE else rules.NO_LEASE)
                )
            else:
                fallback, value = None, int(ipaddress.IPv4Address(ip))
                cls = NOT_OURS if kind is None else _CLASS_OF_KIND.get(kind, INFRA)
        for name, item in zip(ADDRESS_CLASSES.names, (ip, cls, fallback, value), strict=True):
            rows[name].append(item)
    return pa.table(rows, schema=ADDRESS_CLASSES)


def v6_probes(ips: Iterable[str], prefix_lengths: Iterable[int]) -> pa.Table:
    """One row per (IPv6 address, prefix length): the lease key to look up."""
    lengths = sorted(set(prefix_lengths), reverse=True)
    rows: dict[str, list[Any]] = {n: [] for n in V6_PROBES.names}
    for ip in ips:
        for plen in lengths:
            rows["ip"].append(ip)
            rows["plen"].append(plen)
            rows["addr"].append(prefix_key(ip, plen))
    return pa.table(rows, schema=V6_PROBES)


def _segments(cidrs: list[str]) -> list[tuple[int, int, int]]:
    """(first address, size, index of the first address) of each network, in order."""
    out, idx = [], 0
    for cidr in cidrs:
        net = ipaddress.IPv4Network(cidr)
        out.append((int(net.network_address), net.num_addresses, idx))
        idx += net.num_addresses
    return out


def nat_tables(nat: DeterministicNat) -> tuple[pa.Table, pa.Table]:
    """The RFC 7422 config versions as outside and inside address segments (the order of
    the config list is the order in which rules are tried, as in DeterministicNat)."""
    outside: dict[str, list[Any]] = {n: [] for n in NAT_OUTSIDE.names}
    inside: dict[str, list[Any]] = {n: [] for n in NAT_INSIDE.names}
    for no, rule in enumerate(nat.rules):
        for lo, span, first in _segments(rule.outside_pool):
            for name, item in (
                ("rule_no", no), ("valid_from_ms", rule.valid_from_ms),
                ("valid_to_ms", rule.valid_to_ms), ("lo", lo), ("span", span),
                ("first_idx", first), ("first_port", rule.first_port),
                ("pps", rule.ports_per_subscriber), ("per_addr", rule.subscribers_per_address),
                ("nat_instance", rule.nat_instance), ("inside_vrf", rule.inside_vrf),
                ("ref", rule.version_ref),
            ):  # fmt: skip
                outside[name].append(item)
        for lo, span, first in _segments(rule.inside_prefixes):
            for name, item in (("rule_no", no), ("lo", lo), ("span", span), ("first_idx", first)):
                inside[name].append(item)
    return pa.table(outside, schema=NAT_OUTSIDE), pa.table(inside, schema=NAT_INSIDE)


def line_ids(
    holders: Iterable[str], lines: Mapping[str, LineInfo], pseudonymizer: Pseudonymizer
) -> pa.Table:
    """Pseudonymous ids of the lines that hold leases (unknown holders are left out)."""
    p = pseudonymizer.pseudonym
    rows: dict[str, list[Any]] = {n: [] for n in LINE_IDS.names}
    for h in holders:
        if h.startswith(UNKNOWN_HOLDER_PREFIX):
            continue
        line = lines[h]
        for name, item in (
            ("holder", h),
            ("line_p", p(IdKind.LINE, line.line_id)),
            ("sub_p", p(IdKind.SUBSCRIBER, line.subscriber_id) if line.subscriber_id else None),
            ("hh_p", p(IdKind.HOUSEHOLD, line.household_id)),
            ("acc_p", p(IdKind.ACCOUNT, line.account_id)),
            ("fixed", line.kind == FIXED),
        ):
            rows[name].append(item)
    return pa.table(rows, schema=LINE_IDS)
