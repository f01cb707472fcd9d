"""Erasure in the segment log: in place, crash-safe, offsets kept for the bus forwarder."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from netcx.adapters.bus.forwarder import SegmentForwarder
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.domain.events import Event, Recognition, RecognitionLevel, Source, StoredEvent
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.ports import BusConsumer

P = Pseudonymizer({"k1": b"k"}, "k1")
VICTIM = "victim-cookie-7f3a"


def ev(n: int, visitor: str) -> Event:
    return Event(Source.TAG, f"e{n:03d}", "page", received_ms=n, visitor_id=visitor)


def recognised(n: int) -> Recognition:
    return Recognition(RecognitionLevel.NETWORK_LINE, "port_block", 0.9, {"line": f"ln1_{n:024d}"})


def store(directory: Path, events: Sequence[Event], segment_bytes: int = 1 << 20) -> None:
    """Append the events one per call, each followed by its recognition."""
    log = SegmentEventLog(directory, fsync="never", segment_bytes=segment_bytes)

    async def run() -> None:
        for e in events:
            await log.append([e])
            await log.record_recognitions([(e, recognised(int(e.event_id[1:])))])

    asyncio.run(run())
    log.close()


def mixed(first: int, n: int) -> list[Event]:
    """Every third event is the victim's."""
    return [ev(i, VICTIM if i % 3 == 0 else f"other-{i}") for i in range(first, first + n)]


def on_disk(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def survivors(directory: Path) -> list[tuple[str, Recognition | None]]:
    return [(s.event.event_id, s.recognition) for s in SegmentEventLog(directory).read()]


def expected(events: Sequence[Event]) -> list[tuple[str, Recognition | None]]:
    return [(e.event_id, recognised(int(e.event_id[1:]))) for e in events if e.visitor_id != VICTIM]


CRASH = """
import os, sys
from pathlib import Path
from netcx.adapters.storage.eventlog_segments import SegmentEventLog

point = sys.argv[2]
real_pwrite, real_replace = os.pwrite, os.replace
calls = [0]

def pwrite(fd, data, offset):
    calls[0] += 1
    if calls[0] == 3:  # a few records blanked, the third torn in half
        real_pwrite(fd, data[: len(data) // 2], offset)
        os._exit(9)
    return real_pwrite(fd, data, offset)

def replace(src, dst):
    if str(dst).endswith("erase.journal"):
        os._exit(9)
    return real_replace(src, dst)

if point == "overwrite":
    os.pwrite = pwrite
else:
    os.replace = replace
SegmentEventLog(Path(sys.argv[1])).erase(lambda e: e.visitor_id == sys.argv[3])
"""


@pytest.mark.parametrize("point", ["journal", "overwrite"])
def test_a_crash_mid_erasure_loses_nothing_else_and_leaves_no_half_state(
    tmp_path: Path, point: str
) -> None:
    events = mixed(0, 30)
    store(tmp_path, events, segment_bytes=600)  # several segments
    assert len(list(tmp_path.glob("*.seg"))) > 2
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(tmp_path), point, VICTIM], check=False
    )
    assert crashed.returncode == 9
    if point == "journal":  # not committed: nothing changed, the erasure can be asked again
        assert len(survivors(tmp_path)) == 30
        assert SegmentEventLog(tmp_path).erase(lambda e: e.visitor_id == VICTIM) == 10
    # committed: the next reader (or writer) finishes it
    assert survivors(tmp_path) == expected(events)
    assert VICTIM.encode() not in on_disk(tmp_path)
    assert not (tmp_path / "erase.journal").exists()


def test_erasure_blanks_bytes_in_place_and_drops_spent_segments(tmp_path: Path) -> None:
    events = [ev(i, VICTIM) for i in range(6)] + mixed(6, 6)
    store(tmp_path, events, segment_bytes=400)
    before = {p.name: p.stat().st_size for p in tmp_path.glob("*.seg")}
    log = SegmentEventLog(tmp_path)
    assert log.erase(lambda e: e.visitor_id == VICTIM) == 8
    assert log.erase(lambda e: e.visitor_id == VICTIM) == 0
    after = {p.name: p.stat().st_size for p in tmp_path.glob("*.seg")}
    assert set(after) < set(before), "segments holding only the victim's events are gone"
    assert all(after[name] == before[name] for name in after), "offsets are kept"
    assert survivors(tmp_path) == expected(events)
    assert VICTIM.encode() not in on_disk(tmp_path)


class Bus:
    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish(self, records: Sequence[tuple[str, StoredEvent]]) -> None:
        self.published += [item.event.event_id for _, item in records]

    def consumer(self, group: str, member: str) -> BusConsumer:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def test_the_forwarder_checkpoint_survives_erasure_and_retention(tmp_path: Path) -> None:
    events = mixed(0, 30) + [ev(i, f"later-{i}") for i in range(30, 40)]
    store(tmp_path, events[:20], segment_bytes=700)
    bus = Bus()
    first = SegmentForwarder(tmp_path, bus, P, batch_size=4, recognition_wait_ms=0)
    asyncio.run(first.drain_once())
    # a forwarder that stopped part-way through (checkpoint mid-segment), then restarted
    store(tmp_path, events[20:30])  # one segment: the checkpoint will sit inside it
    partial = Bus()

    class Stops(Bus):
        async def publish(self, records: Sequence[tuple[str, StoredEvent]]) -> None:
            if len(partial.published) >= 4:
                raise RuntimeError("forwarder crashed")
            partial.published += [item.event.event_id for _, item in records]

    with pytest.raises(RuntimeError):
        asyncio.run(
            SegmentForwarder(tmp_path, Stops(), P, batch_size=4, recognition_wait_ms=0).drain_once()
        )
    assert partial.published == ["e020", "e021", "e022", "e023"]
    log = SegmentEventLog(tmp_path)
    assert log.erase(lambda e: e.visitor_id == VICTIM) == 10  # before and after the checkpoint
    assert log.purge_before(2) == 1  # e001 (e000 was the victim's)
    store(tmp_path, events[30:], segment_bytes=700)
    rest = Bus()
    asyncio.run(
        SegmentForwarder(tmp_path, rest, P, batch_size=4, recognition_wait_ms=0).drain_once()
    )
    before = bus.published + partial.published
    kept = {e.event_id for e in events if e.visitor_id != VICTIM} - {"e001"}
    # nothing skipped, nothing erased sent, and exactly once here (no crash fell between a
    # publish and its checkpoint; after such a crash the batch is sent again)
    assert sorted(rest.published) == sorted(kept - set(before))
    assert len(before + rest.published) == len(set(before + rest.published))


def test_an_erasure_waits_for_copies_in_flight_so_a_later_bus_erasure_sees_them(
    tmp_path: Path,
) -> None:
    store(tmp_path, mixed(0, 6))
    release, publishing = threading.Event(), threading.Event()
    order: list[str] = []

    class SlowBus(Bus):
        async def publish(self, records: Sequence[tuple[str, StoredEvent]]) -> None:
            publishing.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
            order.append("published")
            await super().publish(records)

    fwd = SegmentForwarder(tmp_path, SlowBus(), P, recognition_wait_ms=0)
    forwarding = threading.Thread(target=lambda: asyncio.run(fwd.drain_once()))
    forwarding.start()
    assert publishing.wait(10)

    def erase() -> None:
        SegmentEventLog(tmp_path).erase(lambda e: e.visitor_id == VICTIM)
        order.append("erased")

    erasing = threading.Thread(target=erase)
    erasing.start()
    time.sleep(0.3)
    assert order == []  # the erasure waits for the copy in flight
    release.set()
    forwarding.join(10)
    erasing.join(10)
    assert order == ["published", "erased"]
