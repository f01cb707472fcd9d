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


def test_slow_disk_moves_syncs_to_a_worker_thread_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eventlog_segments, "_SLOW_SYNC_S", 0.0)  # every sync counts as slow
    log = SegmentEventLog(tmp_path, segment_bytes=2000)

    async def load() -> list[list[bool]]:
        return await asyncio.gather(*(log.append([ev(n), ev(n + 1)]) for n in range(0, 200, 2)))

    assert all(flags == [True, True] for flags in asyncio.run(load()))
    log.close()
    assert len(list(SegmentEventLog(tmp_path).read())) == 200
