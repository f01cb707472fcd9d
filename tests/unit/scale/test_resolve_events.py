"""The resolve workers answer a polled batch at once: one bulk lookup, answers in event order,
events without a client address answered without a lookup, an unreachable online state
degrading the whole batch to `unknown`."""

from __future__ import annotations

from collections.abc import Sequence

from netcx.domain.events import ClientAddress, Event, Source, StoredEvent
from netcx.domain.resolution import Level, Resolution
from netcx.errors import Unavailable
from netcx.services.bus_workers import (
    DEGRADED_REASON,
    DegradingResolver,
    WorkerStatus,
    resolve_events,
)


def stored(i: int, ip: str | None) -> StoredEvent:
    client = None if ip is None else ClientAddress(ip, 1000 + i)
    return StoredEvent(Event(Source.SEGMENT, f"e{i}", "page", received_ms=i, client=client))


class Bulk:
    def __init__(self) -> None:
        self.calls: list[list[tuple[str, int | None, int]]] = []
        self.down = False

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        raise AssertionError("a batch is resolved with one bulk call")

    def resolve_many(self, queries: Sequence[tuple[str, int | None, int]]) -> list[Resolution]:
        if self.down:
            raise Unavailable("redis: read bindings failed")
        self.calls.append(list(queries))
        return [
            Resolution(level=Level.LINE, reason="hot_set", line_id=f"{ip}:{p}")
            for ip, p, _ in queries
        ]


class OneByOne:
    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        return Resolution(level=Level.LINE, reason="static", line_id=f"{ip}:{port}")


def test_a_batch_is_one_bulk_lookup_in_event_order() -> None:
    bulk, status = Bulk(), WorkerStatus()
    items = [stored(0, "203.0.113.1"), stored(1, None), stored(2, "203.0.113.2")]
    results = resolve_events(items, DegradingResolver(bulk, status))
    assert bulk.calls == [[("203.0.113.1", 1000, 0), ("203.0.113.2", 1002, 2)]]
    assert [(k, r.line_id or r.reason) for k, r in results] == [
        (("segment", "e0"), "203.0.113.1:1000"),
        (("segment", "e1"), "no_client_address"),
        (("segment", "e2"), "203.0.113.2:1002"),
    ]
    assert status.online_state == "ok"


def test_an_unreachable_online_state_degrades_the_whole_batch() -> None:
    bulk, status = Bulk(), WorkerStatus()
    bulk.down = True
    results = resolve_events(
        [stored(0, "203.0.113.1"), stored(1, "203.0.113.2")], DegradingResolver(bulk, status)
    )
    assert [r.reason for _, r in results] == [DEGRADED_REASON] * 2
    assert status.online_state == "degraded" and status.degraded_answers == 2


def test_a_resolver_without_bulk_lookups_answers_one_by_one() -> None:
    results = resolve_events(
        [stored(0, "203.0.113.1")], DegradingResolver(OneByOne(), WorkerStatus())
    )
    assert results[0][1].line_id == "203.0.113.1:1000"
