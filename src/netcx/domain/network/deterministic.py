"""Deterministic CGNAT (RFC 7422, sequential scheme): outside ip:port ⇄ inside ip, no logs."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import msgspec

from netcx.errors import InvalidInput

SEQUENTIAL = "rfc7422-sequential"


class DeterministicRule(msgspec.Struct, frozen=True):
    """One version of a deterministic NAT pool config, valid in [valid_from_ms, valid_to_ms)."""

    nat_instance: str
    inside_vrf: str
    inside_prefixes: list[str]
    outside_pool: list[str]
    first_port: int = 1024
    ports_per_subscriber: int = 2016
    algorithm: str = SEQUENTIAL
    valid_from_ms: int = 0
    valid_to_ms: int | None = None

    @property
    def subscribers_per_address(self) -> int:
        return (65536 - self.first_port) // self.ports_per_subscriber

    @property
    def version_ref(self) -> str:
        return f"{self.nat_instance}@{self.valid_from_ms}"


class DeterministicMapping(msgspec.Struct, frozen=True):
    inside_ip: str
    port_lo: int
    port_hi: int


class _Compiled:
    """Flattened inside/outside address lists of one rule (order = the RFC 7422 order)."""

    def __init__(self, rule: DeterministicRule) -> None:
        if rule.algorithm != SEQUENTIAL:
            raise InvalidInput(
                f"unsupported deterministic NAT algorithm {rule.algorithm!r}", field="algorithm"
            )
        if rule.ports_per_subscriber <= 0 or not 0 < rule.first_port < 65536:
            raise InvalidInput("bad port parameters", field="ports_per_subscriber")
        self.rule = rule
        self.inside = [ipaddress.IPv4Network(p) for p in rule.inside_prefixes]
        self.outside = [ipaddress.IPv4Network(p) for p in rule.outside_pool]
        self.inside_size = sum(n.num_addresses for n in self.inside)
        self.outside_size = sum(n.num_addresses for n in self.outside)

    def outside_index(self, ip: int) -> int | None:
        offset = 0
        for net in self.outside:
            base = int(net.network_address)
            if base <= ip < base + net.num_addresses:
                return offset + ip - base
            offset += net.num_addresses
        return None

    def inside_at(self, k: int) -> str | None:
        for net in self.inside:
            if k < net.num_addresses:
                return str(net.network_address + k)
            k -= net.num_addresses
        return None

    def inside_index(self, ip: int) -> int | None:
        offset = 0
        for net in self.inside:
            base = int(net.network_address)
            if base <= ip < base + net.num_addresses:
                return offset + ip - base
            offset += net.num_addresses
        return None


class DeterministicNat:
    """All rule versions; `reverse(ip, port, at_ms)` finds the inside address."""

    def __init__(self, rules: Sequence[DeterministicRule]) -> None:
        self.rules = list(rules)
        self._compiled = [_Compiled(r) for r in self.rules]

    @classmethod
    def from_json(cls, data: bytes | str | list[Any]) -> DeterministicNat:
        try:
            rules = (
                msgspec.convert(data, list[DeterministicRule])
                if isinstance(data, list)
                else msgspec.json.decode(data, type=list[DeterministicRule])
            )
        except msgspec.ValidationError as err:
            raise InvalidInput(f"deterministic NAT config: {err}") from err
        return cls(rules)

    def rule_for(self, outside_ip: str, at_ms: int) -> tuple[_Compiled, int] | None:
        """The rule version valid at `at_ms` whose outside pool holds `outside_ip`."""
        ip = int(ipaddress.IPv4Address(outside_ip))
        for c in self._compiled:
            r = c.rule
            if r.valid_from_ms <= at_ms and (r.valid_to_ms is None or at_ms < r.valid_to_ms):
                m = c.outside_index(ip)
                if m is not None:
                    return c, m
        return None

    def reverse(
        self, outside_ip: str, port: int, at_ms: int
    ) -> tuple[DeterministicRule, DeterministicMapping] | str | None:
        """(rule, mapping); None if no rule covers the address at that time; 'overflow' if
        the port lies outside the deterministic ranges (needs a dynamic block record)."""
        found = self.rule_for(outside_ip, at_ms)
        if found is None:
            return None
        c, m = found
        r = c.rule
        s = r.subscribers_per_address
        j = (port - r.first_port) // r.ports_per_subscriber
        if port < r.first_port or j >= s:
            return "overflow"
        inside = c.inside_at(m * s + j)
        if inside is None:
            return "overflow"
        lo = r.first_port + j * r.ports_per_subscriber
        return r, DeterministicMapping(inside, lo, lo + r.ports_per_subscriber - 1)

    def forward(self, inside_ip: str, at_ms: int) -> tuple[str, int, int] | None:
        """(outside ip, first port, last port) of an inside address (simulator, tests)."""
        ip = int(ipaddress.IPv4Address(inside_ip))
        for c in self._compiled:
            r = c.rule
            if not (r.valid_from_ms <= at_ms and (r.valid_to_ms is None or at_ms < r.valid_to_ms)):
                continue
            k = c.inside_index(ip)
            if k is None:
                continue
            s = r.subscribers_per_address
            m, j = divmod(k, s)
            if m >= c.outside_size:
                return None
            out = None
            for net in c.outside:
                if m < net.num_addresses:
                    out = str(net.network_address + m)
                    break
                m -= net.num_addresses
            if out is None:
                return None
            lo = r.first_port + j * r.ports_per_subscriber
            return out, lo, lo + r.ports_per_subscriber - 1
        return None
