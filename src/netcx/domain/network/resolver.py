"""resolve(ip, port, at) → Resolution: the decision table of network-logs.md §3.8."""

from __future__ import annotations

from dataclasses import dataclass

from netcx.domain.network.blocks import BlockBook, inside_of
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import FIXED, UNKNOWN_HOLDER_PREFIX, LineDirectory
from netcx.domain.network.leases import DELEGATED_V6, LeaseBook
from netcx.domain.network.plan import (
    CGNAT_DETERMINISTIC,
    CGNAT_OUTSIDE,
    GLOBAL_CONTEXT,
    INFRASTRUCTURE,
    PUBLIC_FIXED,
    PUBLIC_MOBILE,
    AddressPlan,
    parse_ip,
    prefix_key,
)
from netcx.domain.network.timeline import BOUNDARY, CONFIDENCE, CONTAINED, Choice
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.domain.resolution import Evidence, Level, Resolution

# Reason codes (stable: reports, audits and the batch resolver use them).
INVALID_IP = "invalid_ip"  # batch only: the real-time path rejects the request instead
NOT_OURS = "not_ours"
INFRA = "infrastructure"
NO_PORT = "no_port"
NO_BLOCK = "no_block"
NO_RULE = "no_rule"
NO_LEASE = "no_lease"
UNKNOWN_LINE = "unknown_line"
R_BOUNDARY = "boundary"
VIA_RADIUS = "radius"
VIA_BLOCK = "cgnat_block+radius"
VIA_RULE = "nat_rule+radius"
VIA_PREFIX = "ipv6_prefix"


def reason_with(base: str, qualities: list[str]) -> str:
    """Success reason plus the weaker qualities met on the way, e.g. 'radius+skew'."""
    extra = [q for q in dict.fromkeys(qualities) if q != CONTAINED]
    return "+".join([base, *extra])


def confidence_of(qualities: list[str]) -> float:
    c = 1.0
    for q in qualities:
        c *= CONFIDENCE[q]
    return round(c, 4)


@dataclass(frozen=True, slots=True)
class _Ids:
    line_id: str
    subscriber_id: str | None
    household_id: str
    account_id: str
    fixed: bool


class NetworkResolver:
    """Real-time resolver over in-memory lease and block books (pure: no I/O, no clock)."""

    def __init__(
        self,
        plan: AddressPlan,
        nat: DeterministicNat,
        leases: LeaseBook,
        blocks: BlockBook,
        directory: LineDirectory,
        pseudonymizer: Pseudonymizer,
        eps_ms: int,
    ) -> None:
        self.plan = plan
        self.nat = nat
        self.leases = leases
        self.blocks = blocks
        self.directory = directory
        self.pseudonymizer = pseudonymizer
        self.eps_ms = eps_ms
        self._ids: dict[str, _Ids] = {}

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        pool = self.plan.pool_of(ip)
        if ":" in ip:
            return self._resolve_v6(
                ip, at_ms, pool is None, pool is not None and pool.kind == INFRASTRUCTURE
            )
        if pool is None:
            return Resolution.unknown(NOT_OURS)
        kind = pool.kind
        if kind in (PUBLIC_FIXED, PUBLIC_MOBILE):
            return self._by_lease(GLOBAL_CONTEXT, ip, at_ms, VIA_RADIUS, [], [])
        if kind == CGNAT_OUTSIDE:
            if port is None:
                return Resolution.unknown(NO_PORT)
            return self._by_block(ip, port, at_ms)
        if kind == CGNAT_DETERMINISTIC:
            if port is None:
                return Resolution.unknown(NO_PORT)
            found = self.nat.reverse(ip, port, at_ms)
            if found is None:
                return Resolution.unknown(NO_RULE)
            if isinstance(found, str):  # overflow ports: dynamic blocks, logged
                return self._by_block(ip, port, at_ms)
            rule, mapping = found
            ev = Evidence(
                "nat_rule",
                rule.version_ref,
                rule.nat_instance,
                rule.valid_from_ms,
                rule.valid_to_ms,
                f"ports {mapping.port_lo}-{mapping.port_hi}",
            )
            return self._by_lease(rule.inside_vrf, mapping.inside_ip, at_ms, VIA_RULE, [ev], [])
        return Resolution.unknown(INFRA)

    def _resolve_v6(self, ip: str, at_ms: int, not_ours: bool, infra: bool) -> Resolution:
        parse_ip(ip)
        for plen in sorted(self.leases.prefix_lengths, reverse=True):
            tl = self.leases.timeline((GLOBAL_CONTEXT, prefix_key(ip, plen)))
            if tl is None:
                continue
            c = tl.choose(at_ms, self.eps_ms)
            if c is BOUNDARY:
                return Resolution.unknown(R_BOUNDARY)
            if isinstance(c, Choice):
                return self._answer(c, VIA_PREFIX, [], [])
        if not_ours:
            return Resolution.unknown(NOT_OURS)
        return Resolution.unknown(INFRA if infra else NO_LEASE)

    def _by_block(self, ip: str, port: int, at_ms: int) -> Resolution:
        key = self.blocks.block_for(ip, port)
        if key is None:
            return Resolution.unknown(NO_BLOCK)
        c = self.blocks.choose(key, at_ms, self.eps_ms)
        if c is BOUNDARY:
            return Resolution.unknown(R_BOUNDARY)
        if not isinstance(c, Choice):
            return Resolution.unknown(NO_BLOCK)
        vrf, inside = inside_of(c.binding.holder)
        return self._by_lease(vrf, inside, at_ms, VIA_BLOCK, [c.binding.evidence()], [c.quality])

    def _by_lease(
        self,
        context: str,
        address: str,
        at_ms: int,
        reason: str,
        evidence: list[Evidence],
        qualities: list[str],
    ) -> Resolution:
        tl = self.leases.timeline((context, address))
        if tl is None:
            return Resolution.unknown(NO_LEASE, tuple(evidence))
        c = tl.choose(at_ms, self.eps_ms)
        if c is BOUNDARY:
            return Resolution.unknown(R_BOUNDARY, tuple(evidence))
        if not isinstance(c, Choice):
            return Resolution.unknown(NO_LEASE, tuple(evidence))
        return self._answer(c, reason, evidence, qualities)

    def _answer(
        self, c: Choice, reason: str, evidence: list[Evidence], qualities: list[str]
    ) -> Resolution:
        b = c.binding
        all_evidence = (*evidence, b.evidence())
        if b.holder.startswith(UNKNOWN_HOLDER_PREFIX):
            return Resolution.unknown(UNKNOWN_LINE, all_evidence)
        ids = self._ids_of(b.holder)
        q = [*qualities, c.quality]
        household = ids.fixed or b.detail == DELEGATED_V6
        return Resolution(
            level=Level.HOUSEHOLD if household else Level.LINE,
            reason=reason_with(reason, q),
            confidence=confidence_of(q),
            line_id=ids.line_id,
            subscriber_id=None if household else ids.subscriber_id,
            household_id=ids.household_id,
            account_id=ids.account_id,
            evidence=all_evidence,
        )

    def _ids_of(self, line_id: str) -> _Ids:
        ids = self._ids.get(line_id)
        if ids is None:
            line = self.directory.lines[line_id]
            p = self.pseudonymizer.pseudonym
            ids = _Ids(
                line_id=p(IdKind.LINE, line.line_id),
                subscriber_id=p(IdKind.SUBSCRIBER, line.subscriber_id)
                if line.subscriber_id
                else None,
                household_id=p(IdKind.HOUSEHOLD, line.household_id),
                account_id=p(IdKind.ACCOUNT, line.account_id),
                fixed=line.kind == FIXED,
            )
            self._ids[line_id] = ids
        return ids
