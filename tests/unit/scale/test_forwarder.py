"""The segment-log forwarder: partition keys, waiting for recognitions, checkpoint, retries."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from netcx.adapters.bus.forwarder import SegmentForwarder, unforwarded_bytes
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.domain.events import Event, Recognition, RecognitionLevel, Source, StoredEvent
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.errors import Unavailable
from netcx.ports import BusConsumer

P = Pseudonymizer({"k1": b"k"}, "k1")
LINE = "ln1_" + "a" * 24


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, StoredEvent]] = []
        self.down = False

    async def publish(self, records: Sequence[tuple[str, StoredEvent]]) -> None:
        if self.down:
            raise Unavailable("bus down")
        self.published += records

    def consumer(self, group: str, member: str) -> BusConsumer:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def ev(i: int, visitor: str | None = "cookie-1") -> Event:
    return Event(Source.TAG, f"e{i}", "page", received_ms=i, visitor_id=visitor)


def store(
    directory: Path, events: list[Event], recognised: list[tuple[Event, Recognition]]
) -> None:
    log = SegmentEventLog(directory, fsync="never")

    async def run() -> None:
        await log.append(events)
        await log.record_recognitions(recognised)

    asyncio.run(run())
    log.close()


def test_keys_are_line_then_visitor_pseudonyms_and_checkpoint_survives(tmp_path: Path) -> None:
    line = Recognition(RecognitionLevel.NETWORK_LINE, "port_block", 0.9, {"line": LINE})
    a, b, c = ev(1), ev(2), ev(3, visitor=None)
    store(
        tmp_path, [a, b, c], [(a, line), (b, Recognition.anonymous()), (c, Recognition.anonymous())]
    )
    bus = FakeBus()
    fwd = SegmentForwarder(tmp_path, bus, P)
    assert asyncio.run(fwd.drain_once()) == 3
    keys = [k for k, _ in bus.published]
    assert keys == [LINE, P.pseudonym(IdKind.VISITOR, "cookie-1"), "tag:e3"]
    assert bus.published[0][1].recognition == line
    again = FakeBus()
    assert asyncio.run(SegmentForwarder(tmp_path, again, P).drain_once()) == 0
    store(tmp_path, [ev(4)], [(ev(4), Recognition.anonymous())])  # a new writer segment
    assert asyncio.run(SegmentForwarder(tmp_path, again, P).drain_once()) == 1


def test_an_event_waits_for_its_recognition_then_goes_unrecognised(tmp_path: Path) -> None:
    store(tmp_path, [ev(1), ev(2)], [])
    now = [100.0]
    bus = FakeBus()
    fwd = SegmentForwarder(tmp_path, bus, P, recognition_wait_ms=500, clock_s=lambda: now[0])
    assert asyncio.run(fwd.drain_once()) == 0
    now[0] += 0.6
    assert asyncio.run(fwd.drain_once()) == 2
    assert all(item.recognition is None for _, item in bus.published)


def test_a_bus_failure_keeps_the_checkpoint(tmp_path: Path) -> None:
    store(tmp_path, [ev(1)], [(ev(1), Recognition.anonymous())])
    bus = FakeBus()
    bus.down = True
    fwd = SegmentForwarder(tmp_path, bus, P)
    with pytest.raises(Unavailable):
        asyncio.run(fwd.drain_once())
    assert unforwarded_bytes(tmp_path) > 0
    bus.down = False
    assert asyncio.run(fwd.drain_once()) == 1
    assert unforwarded_bytes(tmp_path) == 0
    assert [i.event.event_id for _, i in bus.published] == ["e1"]


def test_batches_are_bounded(tmp_path: Path) -> None:
    events = [ev(i) for i in range(25)]
    store(tmp_path, events, [(e, Recognition.anonymous()) for e in events])
    sizes: list[int] = []

    class Counting(FakeBus):
        async def publish(self, records: Sequence[tuple[str, StoredEvent]]) -> None:
            sizes.append(len(records))
            await super().publish(records)

    assert asyncio.run(SegmentForwarder(tmp_path, Counting(), P, batch_size=10).drain_once()) == 25
    assert sizes == [10, 10, 5]


def test_one_forwarder_per_directory_and_the_next_takes_over(tmp_path: Path) -> None:
    store(tmp_path, [ev(1)], [(ev(1), Recognition.anonymous())])
    first_bus, second_bus = FakeBus(), FakeBus()
    first = SegmentForwarder(tmp_path, first_bus, P)
    second = SegmentForwarder(tmp_path, second_bus, P)  # loaded the (empty) checkpoint
    assert first.take_lock()
    assert asyncio.run(first.drain_once()) == 1
    store(tmp_path, [ev(2)], [(ev(2), Recognition.anonymous())])

    async def run() -> None:
        stop = asyncio.Event()
        waiting = asyncio.create_task(second.run(stop, 0.01, lock_retry_s=0.01))
        await asyncio.sleep(0.2)
        assert second_bus.published == []  # waits while the first holds the lock
        await first.close()
        for _ in range(100):
            if second_bus.published:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await waiting
        await second.close()

    asyncio.run(run())
    assert [i.event.event_id for _, i in first_bus.published] == ["e1"]
    assert [i.event.event_id for _, i in second_bus.published] == ["e2"]  # checkpoint re-read
