"""Fakes for identity service tests: a resolver fed by in-memory bindings and a clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from netcx.adapters.storage.memory_audit import MemoryAuditLog
from netcx.adapters.storage.memory_consent import MemoryConsentLedger
from netcx.adapters.storage.memory_identity import MemoryIdentityStore
from netcx.adapters.storage.null_intents import NoRecentIntents
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.domain.resolution import Evidence, Level, Resolution
from netcx.services.identity import IdentityService

PSEUDO = Pseudonymizer({"k1": b"test-key"}, "k1")
IP_LINE, IP_HOUSEHOLD, IP_OTHER = "198.18.0.7", "198.18.0.9", "240.0.0.1"
MSISDN = "447700900123"


def pid(kind: IdKind, raw: str) -> str:
    return PSEUDO.pseudonym(kind, raw)


LINE_RESOLUTION = Resolution(
    level=Level.LINE,
    reason="port_block",
    confidence=0.97,
    line_id=pid(IdKind.LINE, "L1"),
    subscriber_id=pid(IdKind.SUBSCRIBER, "S1"),
    household_id=pid(IdKind.HOUSEHOLD, "H1"),
    account_id=pid(IdKind.ACCOUNT, "A1"),
    evidence=(
        Evidence(kind="port_block", ref=f"{IP_LINE}:1024-2047", source="srx-cgn1", detail=MSISDN),
    ),
)
HOUSEHOLD_RESOLUTION = Resolution(
    level=Level.HOUSEHOLD,
    reason="shared_ip_no_port",
    confidence=0.8,
    household_id=pid(IdKind.HOUSEHOLD, "H2"),
    account_id=pid(IdKind.ACCOUNT, "A2"),
)


@dataclass
class FakeResolver:
    """Answers from a dict of ip → Resolution; remembers every address it was asked."""

    bindings: dict[str, Resolution] = field(
        default_factory=lambda: {IP_LINE: LINE_RESOLUTION, IP_HOUSEHOLD: HOUSEHOLD_RESOLUTION}
    )
    asked: list[str] = field(default_factory=list)

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        self.asked.append(ip)
        return self.bindings.get(ip, Resolution.unknown("not_ours"))


@dataclass
class Clock:
    now_ms: int = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now_ms


def make_service(
    resolver: FakeResolver | None = None, clock: Clock | None = None
) -> IdentityService:
    return IdentityService(
        store=MemoryIdentityStore(),
        consent=MemoryConsentLedger(),
        audit=MemoryAuditLog(),
        resolver=resolver or FakeResolver(),
        pseudonymizer=PSEUDO,
        clock_ms=clock or Clock(),
        intents=NoRecentIntents(),
        network_edge_ttl_s=600,
    )
