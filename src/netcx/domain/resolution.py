"""What a network-identity resolution answers: level, ids, confidence, evidence and reason."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Level(StrEnum):
    """How far network evidence identifies the sender."""

    LINE = "line"
    HOUSEHOLD = "household"
    UNKNOWN = "unknown"


class Evidence(msgspec.Struct, frozen=True, omit_defaults=True):
    """One record that supports an answer: a lease, a port block, a NAT rule or a prefix."""

    kind: str  # radius_session | port_block | nat_rule | ipv6_prefix
    ref: str  # stable id of the record (session key, block id, rule version)
    source: str = ""  # NAS / NAT instance that produced it
    start_ms: int | None = None
    end_ms: int | None = None
    detail: str = ""


class Resolution(msgspec.Struct, frozen=True, omit_defaults=True):
    """Answer of resolve(ip, port, at). Ids are pseudonyms; `reason` is a stable code."""

    level: Level
    reason: str
    confidence: float = 0.0
    line_id: str | None = None
    subscriber_id: str | None = None
    household_id: str | None = None
    account_id: str | None = None
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def unknown(cls, reason: str, evidence: tuple[Evidence, ...] = ()) -> Resolution:
        return cls(level=Level.UNKNOWN, reason=reason, evidence=evidence)
