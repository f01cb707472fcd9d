"""One contract for every EventLog adapter: dedupe (also across restarts), order, recognitions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netcx.adapters.storage.eventlog_memory import MemoryEventLog
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.domain.events import ClientAddress, Event, Recognition, RecognitionLevel, Source
from netcx.errors import InvalidInput
from netcx.ports import EventLog

Opener = Callable[[], EventLog]


@pytest.fixture(params=["memory", "segments", "segments-interval", "segments-small"])
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the log "again" (a restart): a new object on the same storage."""
    opened: list[EventLog] = []
    memory = MemoryEventLog()

    def opener() -> EventLog:
        if opened:
            opened[-1].close()
        log: EventLog
        if request.param == "memory":
            log = memory
        elif request.param == "segments":
            log = SegmentEventLog(tmp_path / "events")
        elif request.param == "segments-interval":
            log = SegmentEventLog(tmp_path / "events", fsync="interval", fsync_interval_ms=5)
        else:  # tiny segments (every append rotates) while background syncs run
            log = SegmentEventLog(
                tmp_path / "events", fsync="interval", fsync_interval_ms=1, segment_bytes=200
            )
        opened.append(log)
        return log

    yield opener
    opened[-1].close()


def ev(
    n: int, source: Source = Source.SEGMENT, properties: dict[str, object] | None = None
) -> Event:
    return Event(
        source=source,
        event_id=f"id-{n}",
        type="track",
        received_ms=1_700_000_000_000 + n,
        visitor_id=f"v{n % 3}",
        properties=properties or {"n": n, "nested": {"list": [1, "two", None]}},
        client=ClientAddress("198.51.100.7", 40000 + n),
    )


def test_append_stores_new_events_and_reads_them_back_in_order(open_log: Opener) -> None:
    log = open_log()
    flags = asyncio.run(log.append([ev(1), ev(2), ev(3)]))
    assert flags == [True, True, True]
    stored = list(log.read())
    assert [s.event for s in stored] == [ev(1), ev(2), ev(3)]
    assert all(s.recognition is None for s in stored)


def test_same_source_and_id_is_stored_once_in_one_call_and_across_calls(open_log: Opener) -> None:
    log = open_log()
    assert asyncio.run(log.append([ev(1), ev(1), ev(2)])) == [True, False, True]
    assert asyncio.run(log.append([ev(2), ev(3)])) == [False, True]
    assert [s.event.event_id for s in log.read()] == ["id-1", "id-2", "id-3"]


def test_same_id_from_another_source_is_another_event(open_log: Opener) -> None:
    log = open_log()
    assert asyncio.run(log.append([ev(1), ev(1, Source.SNOWPLOW), ev(1, Source.TAG)])) == [
        True,
        True,
        True,
    ]
    assert len(list(log.read())) == 3


def test_dedupe_survives_a_restart(open_log: Opener) -> None:
    log = open_log()
    asyncio.run(log.append([ev(1), ev(2)]))
    log = open_log()
    assert asyncio.run(log.append([ev(2), ev(3)])) == [False, True]
    assert [s.event.event_id for s in log.read()] == ["id-1", "id-2", "id-3"]


def test_latest_recognition_is_attached_to_its_event(open_log: Opener) -> None:
    log = open_log()
    asyncio.run(log.append([ev(1), ev(2)]))
    line = Recognition(RecognitionLevel.NETWORK_LINE, "port_block", 0.97, {"line": "ln1_abc"})
    asyncio.run(log.record_recognitions([(ev(1), Recognition.anonymous())]))
    asyncio.run(log.record_recognitions([(ev(1), line)]))
    log = open_log()
    by_id = {s.event.event_id: s.recognition for s in log.read()}
    assert by_id == {"id-1": line, "id-2": None}


def test_many_concurrent_appends_each_event_once(open_log: Opener) -> None:
    log = open_log()

    async def load() -> list[list[bool]]:
        # 50 concurrent callers, every event sent twice: half the answers must be "new".
        calls = [log.append([ev(i), ev(i + 1)]) for i in range(0, 100, 2)]
        calls += [log.append([ev(i)]) for i in range(100)]
        return await asyncio.gather(*calls)

    results = asyncio.run(load())
    assert sum(sum(r) for r in results) == 100
    log = open_log()
    ids = [s.event.event_id for s in log.read()]
    assert sorted(ids) == sorted(f"id-{i}" for i in range(100))


def test_empty_append_is_a_no_op(open_log: Opener) -> None:
    log = open_log()
    assert asyncio.run(log.append([])) == []
    asyncio.run(log.record_recognitions([]))
    assert list(log.read()) == []


def test_an_integer_beyond_64_bits_is_refused_naming_it_and_nothing_is_stored(
    open_log: Opener,
) -> None:
    log = open_log()
    bad = ev(2, properties={"ok": 1, "deep": [{"n": 2**70}]})
    with pytest.raises(InvalidInput, match=r"properties\.deep\[0\]\.n: event 1"):
        asyncio.run(log.append([ev(1), bad]))
    assert list(log.read()) == []


def test_purge_before_deletes_old_events_and_their_recognitions(open_log: Opener) -> None:
    log = open_log()
    asyncio.run(log.append([ev(1), ev(2), ev(3)]))
    asyncio.run(log.record_recognitions([(ev(1), Recognition.anonymous())]))
    assert log.purge_before(ev(3).received_ms) == 2
    asyncio.run(log.append([ev(4)]))  # the log goes on after a purge
    log = open_log()
    assert [(s.event.event_id, s.recognition) for s in log.read()] == [
        ("id-3", None),
        ("id-4", None),
    ]


def test_erase_removes_one_subjects_events_everywhere(open_log: Opener) -> None:
    log = open_log()
    asyncio.run(log.append([ev(1), ev(2), ev(3), ev(4)]))
    log = open_log()
    asyncio.run(log.append([ev(5)]))
    assert log.erase(lambda e: e.visitor_id == "v1") == 2  # id-1 and id-4
    assert log.erase(lambda e: e.visitor_id == "v1") == 0
    log = open_log()
    assert [s.event.event_id for s in log.read()] == ["id-2", "id-3", "id-5"]
