"""Normalised input records: one RADIUS accounting record, one CGNAT port-block event."""

from __future__ import annotations

import msgspec


class AccountingRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One RADIUS Accounting-Request, normalised (times in UTC ms, names as in RFC 2866).

    `event_ms` is the NAS's Event-Timestamp if sent, else arrival − Acct-Delay-Time.
    `raw_ref` points at the source (file:line, or listener log offset) for evidence.
    """

    status: str  # Start | Interim-Update | Stop | Accounting-On | Accounting-Off
    nas_ip: str
    event_ms: int
    nas_identifier: str = ""
    session_id: str = ""
    user_name: str = ""
    calling_station_id: str = ""
    called_station_id: str = ""
    framed_ip: str = ""
    framed_ipv6_prefix: str = ""
    delegated_ipv6_prefix: str = ""
    imsi: str = ""
    imeisv: str = ""
    rat_type: str = ""
    location: str = ""
    session_time_s: int | None = None
    delay_s: int = 0
    terminate_cause: str = ""
    arrival_ms: int | None = None
    raw_ref: str = ""

    def dedupe_key(self) -> tuple[str, str, str, int, int]:
        """Same key ⇒ retransmission of one event (network-logs.md §1.7)."""
        return (
            self.nas_ip or self.nas_identifier,
            self.session_id,
            self.status,
            self.event_ms,
            -1 if self.session_time_s is None else self.session_time_s,
        )


ALLOC = "alloc"
RELEASE = "release"
INTERIM = "interim"


class BlockEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """A CGNAT port-block allocate / release / interim event (network-logs.md §2.6)."""

    event: str  # alloc | release | interim
    at_ms: int
    nat_instance: str
    inside_ip: str
    outside_ip: str
    port_lo: int
    port_hi: int
    inside_vrf: str = ""
    step: int = 1
    raw_ref: str = ""
