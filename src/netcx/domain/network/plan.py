"""The operator's address plan: NAS inventory and address pools, with longest-prefix lookup."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import msgspec

from netcx.errors import InvalidInput

CGNAT_OUTSIDE = "cgnat_outside"
CGNAT_DETERMINISTIC = "cgnat_deterministic"
PUBLIC_FIXED = "public_fixed"
PUBLIC_MOBILE = "public_mobile"
IPV6_MOBILE = "ipv6_mobile"
IPV6_FIXED_PD = "ipv6_fixed_pd"
INFRASTRUCTURE = "infrastructure"
POOL_KINDS = frozenset(
    {
        CGNAT_OUTSIDE,
        CGNAT_DETERMINISTIC,
        PUBLIC_FIXED,
        PUBLIC_MOBILE,
        IPV6_MOBILE,
        IPV6_FIXED_PD,
        INFRASTRUCTURE,
    }
)
PUBLIC_KINDS = frozenset({PUBLIC_FIXED, PUBLIC_MOBILE, IPV6_MOBILE, IPV6_FIXED_PD})

GLOBAL_CONTEXT = ""
"""Routing context of globally unique (public) addresses and IPv6 prefixes."""


class Nas(msgspec.Struct, frozen=True):
    nas_ip: str
    nas_identifier: str = ""
    access: str = "mobile"  # mobile | fixed
    vrf: str = ""
    interim_interval_s: int = 900


class Pool(msgspec.Struct, frozen=True):
    cidr: str
    kind: str
    nat_instance: str = ""
    inside_vrf: str = ""
    log_format: str = ""


class Operator(msgspec.Struct, frozen=True):
    name: str = ""
    mcc: str = ""
    mnc: str = ""


class _PlanDoc(msgspec.Struct):
    operator: Operator = msgspec.field(default_factory=Operator)
    nas: list[Nas] = msgspec.field(default_factory=list)
    pools: list[Pool] = msgspec.field(default_factory=list)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressPlan:
    """Pools and NASes; `pool_of(ip)` is a longest-prefix match over the pools."""

    def __init__(self, operator: Operator, nas: list[Nas], pools: list[Pool]) -> None:
        self.operator = operator
        self.nas = list(nas)
        self.pools = list(pools)
        self._by_nas_ip = {n.nas_ip: n for n in nas}
        self._by_nas_id = {n.nas_identifier: n for n in nas if n.nas_identifier}
        nets: list[tuple[Network, Pool]] = []
        for pool in pools:
            if pool.kind not in POOL_KINDS:
                raise InvalidInput(f"unknown pool kind {pool.kind!r}", field="pools.kind")
            try:
                net = ipaddress.ip_network(pool.cidr)
            except ValueError as err:
                raise InvalidInput(f"{pool.cidr!r}: {err}", field="pools.cidr") from err
            nets.append((net, pool))
        # Longest prefix first, so the first containing network is the most specific.
        nets.sort(key=lambda np_: -np_[0].prefixlen)
        self._v4 = [
            (int(n.network_address), int(n.broadcast_address), p) for n, p in nets if n.version == 4
        ]
        self._v6 = [
            (int(n.network_address), int(n.broadcast_address), p) for n, p in nets if n.version == 6
        ]
        self._memo: dict[str, Pool | None] = {}

    @classmethod
    def from_json(cls, data: bytes | str | Mapping[str, Any]) -> AddressPlan:
        try:
            doc = (
                msgspec.convert(data, _PlanDoc)
                if isinstance(data, Mapping)
                else msgspec.json.decode(data, type=_PlanDoc)
            )
        except msgspec.ValidationError as err:
            raise InvalidInput(f"address plan: {err}") from err
        return cls(doc.operator, doc.nas, doc.pools)

    def to_json(self) -> bytes:
        return msgspec.json.encode(_PlanDoc(self.operator, self.nas, self.pools))

    def pool_of(self, ip: str) -> Pool | None:
        """The most specific pool containing `ip`, or None (not ours). Raises on a bad address."""
        try:
            return self._memo[ip]
        except KeyError:
            pass
        addr = parse_ip(ip)
        table = self._v4 if addr.version == 4 else self._v6
        value = int(addr)
        found = next((p for lo, hi, p in table if lo <= value <= hi), None)
        if len(self._memo) < 1_000_000:
            self._memo[ip] = found
        return found

    def nas_of(self, nas_ip: str, nas_identifier: str = "") -> Nas | None:
        return self._by_nas_ip.get(nas_ip) or self._by_nas_id.get(nas_identifier)

    def context_of_address(self, address: str, nas: Nas | None) -> str:
        """Routing context of a RADIUS Framed-IP-Address: public addresses are global,
        private/CGNAT-inside ones are scoped by the NAS's VRF (network-logs.md §1.7)."""
        pool = self.pool_of(address)
        if pool is not None and pool.kind in PUBLIC_KINDS:
            return GLOBAL_CONTEXT
        if nas is None:
            return "?"
        return nas.vrf or nas.nas_ip


def parse_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(ip)
    except ValueError as err:
        raise InvalidInput(f"{ip!r} is not an IPv4 or IPv6 address", field="ip") from err


def prefix_key(address: str, length: int) -> str:
    """The network of `address`/`length` in canonical text form, e.g. '2001:db8:ab00:1200::/56'."""
    return str(ipaddress.ip_network(f"{address}/{length}", strict=False))
