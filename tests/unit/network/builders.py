"""Hand-built accounting records and block events for resolver tests."""

from __future__ import annotations

from netcx.adapters.storage.bindings_packed import PackedBlockBase
from netcx.domain.network.blocks import BlockBook
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory
from netcx.domain.network.leases import LeaseBook, LeasePolicy
from netcx.domain.network.plan import AddressPlan
from netcx.domain.network.records import AccountingRecord, BlockEvent
from netcx.domain.network.resolver import NetworkResolver
from netcx.domain.pseudonyms import Pseudonymizer

T0 = 1718000000_000  # 2024-06-10T06:13:20Z
MIN = 60_000
FIXED_NAS = "192.0.2.10"
MOBILE_NAS = "192.0.2.20"


def fixed(status: str, sid: str, user: str, at_ms: int, **kw: object) -> AccountingRecord:
    return AccountingRecord(
        status=status,
        nas_ip=FIXED_NAS,
        event_ms=at_ms,
        session_id=sid,
        user_name=user,
        **kw,  # type: ignore[arg-type]
    )


def mobile(status: str, sid: str, msisdn: str, at_ms: int, **kw: object) -> AccountingRecord:
    return AccountingRecord(
        status=status,
        nas_ip=MOBILE_NAS,
        event_ms=at_ms,
        session_id=sid,
        calling_station_id=msisdn,
        **kw,  # type: ignore[arg-type]
    )


def block(
    event: str, at_ms: int, inside: str, outside: str, lo: int, size: int = 128
) -> BlockEvent:
    return BlockEvent(
        event=event,
        at_ms=at_ms,
        nat_instance="srx-cgn1",
        inside_ip=inside,
        outside_ip=outside,
        port_lo=lo,
        port_hi=lo + size - 1,
        raw_ref=f"srx-cgn1.log@{at_ms}",
    )


def make_resolver(
    plan: AddressPlan,
    nat: DeterministicNat,
    directory: LineDirectory,
    pseudonymizer: Pseudonymizer,
    records: list[AccountingRecord],
    events: list[BlockEvent] = [],  # noqa: B006
    eps_ms: int = 2000,
    policy: LeasePolicy | None = None,
    packed_after: int | None = None,
) -> NetworkResolver:
    """With `packed_after`, port blocks live like in `netcx serve`: the first
    `packed_after` events are compacted into a packed base, half of the rest is compacted
    into it again (a merge), the other half is the live delta."""
    leases = LeaseBook(plan, directory, policy or LeasePolicy())
    leases.apply_all(records)
    if packed_after is None:
        blocks = BlockBook(plan)
        blocks.apply_all(events)
    else:
        blocks = BlockBook(plan, PackedBlockBase.empty(eps_ms))
        half = packed_after + (len(events) - packed_after + 1) // 2
        for part in (events[:packed_after], events[packed_after:half]):
            blocks.apply_all(part)
            blocks.compact()
        blocks.apply_all(events[half:])
    return NetworkResolver(plan, nat, leases, blocks, directory, pseudonymizer, eps_ms)
