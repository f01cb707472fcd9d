"""The Collector stores first, then asks the recognizer about new events only; counts by level."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from netcx.adapters.storage.eventlog_memory import MemoryEventLog
from netcx.domain.events import Event, Recognition, RecognitionLevel, Source
from netcx.errors import Unavailable
from netcx.services.collect import Collector, count_events


def ev(n: int, source: Source = Source.TAG) -> Event:
    return Event(source=source, event_id=f"e{n}", type="page", received_ms=n, visitor_id=f"v{n}")


class LineForOddVisitors:
    """A recognizer that checks the event is already stored when it is asked."""

    def __init__(self, log: MemoryEventLog) -> None:
        self.log = log
        self.asked: list[str] = []

    async def recognise_many(self, events: Sequence[Event]) -> list[Recognition]:
        return [self.recognise(e) for e in events]

    def recognise(self, event: Event) -> Recognition:
        assert event.key in {s.event.key for s in self.log.read()}, "asked before stored"
        self.asked.append(event.event_id)
        n = int(event.event_id[1:])
        if n % 2:
            return Recognition(RecognitionLevel.NETWORK_LINE, "port_block", 0.9, {"line": "ln1_x"})
        return Recognition.anonymous("no_consent")


def test_collector_stores_then_recognises_new_events_and_counts_levels() -> None:
    log = MemoryEventLog()
    recognizer = LineForOddVisitors(log)
    collector = Collector(log, recognizer)
    first = asyncio.run(collector.accept([ev(1), ev(2), ev(3)]))
    retry = asyncio.run(collector.accept([ev(3), ev(4, Source.SNOWPLOW)]))
    assert (first.stored, first.duplicates, retry.stored, retry.duplicates) == (3, 0, 1, 1)
    assert recognizer.asked == ["e1", "e2", "e3", "e4"]
    assert [r.level for r in retry.recognitions] == ["anonymous"]
    counts = count_events(log.read())
    assert counts.total == 4
    assert counts.by_source == {"snowplow": 1, "tag": 3}
    assert counts.by_level == {"anonymous": 2, "network_line": 2}


class DownIdentityStore:
    async def recognise_many(self, events: Sequence[Event]) -> list[Recognition]:
        raise Unavailable("identity store unreachable")


def test_an_unavailable_identity_graph_leaves_stored_events_pending() -> None:
    log = MemoryEventLog()
    accepted = asyncio.run(Collector(log, DownIdentityStore()).accept([ev(1), ev(2)]))
    assert (accepted.stored, accepted.unrecognised, accepted.recognitions) == (2, 2, [])
    assert count_events(log.read()).by_level == {"pending": 2}
