"""What only the segment-file log must do: survive torn tails, rotate, share a directory."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from netcx.adapters.storage import eventlog_segments
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.domain.events import Event, Source


def ev(n: int) -> Event:
    return Event(source=Source.TAG, event_id=f"e{n}", type="page", received_ms=n)


def test_a_torn_record_at_the_end_is_skipped_and_the_log_goes_on(tmp_path: Path) -> None:
    log = SegmentEventLog(tmp_path)
    asyncio.run(log.append([ev(1), ev(2)]))
    log.close()
    (segment,) = tmp_path.glob("*.seg")
    data = segment.read_bytes()
    # a crash in the middle of writing the third record: header plus half a payload
    segment.write_bytes(data + data[: len(data) // 2 + 5])
    log = SegmentEventLog(tmp_path)
    assert [s.event.event_id for s in log.read()] == ["e1", "e2"]
    assert asyncio.run(log.append([ev(2), ev(3)])) == [False, True]
    log.close()
    assert [s.event.event_id for s in SegmentEventLog(tmp_path).read()] == ["e1", "e2", "e3"]


def test_a_corrupted_record_ends_its_segment(tmp_path: Path) -> None:
    log = SegmentEventLog(tmp_path)
    asyncio.run(log.append([ev(1)]))
    asyncio.run(log.append([ev(2)]))
    log.close()
    (segment,) = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # flip bits inside the last record: its CRC no longer matches
    segment.write_bytes(bytes(data))
    assert [s.event.event_id for s in SegmentEventLog(tmp_path).read()] == ["e1"]


def test_segments_rotate_at_the_size_limit(tmp_path: Path) -> None:
    log = SegmentEventLog(tmp_path, segment_bytes=300)
    for n in range(20):
        asyncio.run(log.append([ev(n)]))
    log.close()
    assert len(list(tmp_path.glob("*.seg"))) > 3
    assert [s.event.event_id for s in SegmentEventLog(tmp_path).read()] == [
        f"e{n}" for n in range(20)
    ]


def test_two_writers_share_a_directory_and_readers_see_each_event_once(tmp_path: Path) -> None:
    first, second = SegmentEventLog(tmp_path), SegmentEventLog(tmp_path)
    asyncio.run(first.append([ev(1), ev(2)]))
    # the second writer loaded e1/e2 at start; e3 reaches both while both run
    asyncio.run(second.append([ev(2), ev(3)]))
    asyncio.run(first.append([ev(3)]))
    first.close()
    second.close()
    assert {p.name.split("-")[0] for p in tmp_path.glob("*.seg")} == {"w0", "w1"}
    assert [s.event.event_id for s in SegmentEventLog(tmp_path).read()] == ["e1", "e2", "e3"]


def test_reading_takes_no_writer_slot(tmp_path: Path) -> None:
    log = SegmentEventLog(tmp_path / "events")
    assert list(log.read()) == []
    assert not (tmp_path / "events").exists()


def test_erase_reaches_the_segment_another_writer_is_appending_to(tmp_path: Path) -> None:
    live = SegmentEventLog(tmp_path)
    asyncio.run(live.append([ev(1), ev(2)]))
    assert SegmentEventLog(tmp_path).erase(lambda e: e.event_id == "e1") == 1
    asyncio.run(live.append([ev(3)]))  # the writer goes on appending to the same segment
    live.close()
    assert [s.event.event_id for s in SegmentEventLog(tmp_path).read()] == ["e2", "e3"]
    assert b"e1" not in b"".join(p.read_bytes() for p in tmp_path.glob("*.seg"))


def test_only_segments_within_the_dedupe_window_are_read_at_start(tmp_path: Path) -> None:
    log = SegmentEventLog(tmp_path)
    asyncio.run(log.append([ev(1)]))
    log.close()
    (old,) = tmp_path.glob("*.seg")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    log = SegmentEventLog(tmp_path, dedupe_window_s=3600)
    # a retry older than the window is stored again; readers still show it once
    assert asyncio.run(log.append([ev(1), ev(2)])) == [True, True]
    log.close()
    assert [s.event.event_id for s in SegmentEventLog(tmp_path).read()] == ["e1", "e2"]


def test_dedupe_keys_are_forgotten_after_the_window_while_running(tmp_path: Path) -> None:
    log = SegmentEventLog(tmp_path, dedupe_window_s=0.2)
    assert asyncio.run(log.append([ev(1)])) == [True]
    assert asyncio.run(log.append([ev(1)])) == [False]
    time.sleep(0.25)  # two half-window generations later the key is gone
    asyncio.run(log.append([ev(2)]))
    time.sleep(0.15)
    assert asyncio.run(log.append([ev(1)])) == [True]
    log.close()
    assert [s.event.event_id for s in SegmentEventLog(tmp_path).read()] == ["e1", "e2"]


def test_a_sync_runs_off_the_loop_and_the_next_one_covers_what_came_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []  # how many records were written when each fdatasync started
    real_sync = os.fdatasync

    def slow_sync(fd: int) -> None:
        synced.append(sum(1 for _ in SegmentEventLog(tmp_path, dedupe_window_s=0).read()))
        time.sleep(0.05)
        real_sync(fd)

    log = SegmentEventLog(tmp_path)
    monkeypatch.setattr(eventlog_segments.os, "fdatasync", slow_sync)

    async def run() -> tuple[int, list[bool], list[bool]]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.002)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        first = asyncio.create_task(log.append([ev(1)]))
        await asyncio.sleep(0.01)  # the first sync is running
        second = asyncio.create_task(log.append([ev(2)]))
        third = asyncio.create_task(log.append([ev(3)]))
        await asyncio.sleep(0.01)
        assert first.done() is False and second.done() is False  # not acknowledged unsynced
        flags = await first
        assert second.done() is False  # the first sync did not cover it
        more = await second + await third
        ticking.cancel()
        return ticks, flags, more

    ticks, flags, more = asyncio.run(run())
    assert (flags, more) == ([True], [True, True])
    assert ticks >= 20  # the loop ran all through ~100 ms of syncs
    # one sync per group: the second covered both appends made during the first
    assert synced == [1, 3]
    monkeypatch.undo()
    log.close()


def test_appends_during_a_sync_are_synced_by_the_next_one_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    log = SegmentEventLog(tmp_path, segment_bytes=2000)  # rotates while syncs run

    async def load() -> list[list[bool]]:
        return await asyncio.gather(*(log.append([ev(n), ev(n + 1)]) for n in range(0, 200, 2)))

    assert all(flags == [True, True] for flags in asyncio.run(load()))
    log.close()
    assert len(list(SegmentEventLog(tmp_path).read())) == 200
