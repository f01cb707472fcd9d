"""The recognition follower over real segment files: once each, in groups, across writers."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import pytest

from netcx.adapters.storage import eventlog_segments
from netcx.adapters.storage.eventlog_follower import (
    CHECKPOINT,
    FollowerPacing,
    RecognitionFollower,
    follower_running,
    unrecognised_bytes,
)
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.config import load_settings
from netcx.domain.events import Event, EventHead, Recognition, RecognitionLevel, Source
from netcx.errors import ConfigError, Unavailable
from netcx.services.collect import Collector


def ev(n: int, **fields: object) -> Event:
    return Event(source=Source.SEGMENT, event_id=f"e{n}", type="track", received_ms=n, **fields)  # type: ignore[arg-type]


class Recogniser:
    """A recognise callable that records every call; events whose id is in `poison` make it
    raise, and `unavailable` makes every call raise Unavailable."""

    def __init__(self, poison: Sequence[str] = ()) -> None:
        self.calls: list[list[str]] = []
        self.poison = set(poison)
        self.unavailable = False

    def __call__(self, events: Sequence[Event]) -> list[Recognition]:
        if self.unavailable:
            raise Unavailable("identity store down")
        ids = [e.event_id for e in events]
        self.calls.append(ids)
        if self.poison & set(ids):
            raise ValueError("cannot recognise this one")
        return [
            Recognition(RecognitionLevel.NETWORK_LINE, "test", 0.9, {"line": f"L-{e.event_id}"})
            for e in events
        ]

    @property
    def recognised(self) -> Counter[str]:
        return Counter(i for call in self.calls for i in call)


def store(directory: Path, events: Sequence[Event], log: SegmentEventLog | None = None) -> None:
    """Append as one HTTP worker would (its own writer slot), then let go of the slot."""
    writer = log or SegmentEventLog(directory)
    asyncio.run(writer.append(list(events)))
    if log is None:
        writer.close()


def drain_all(follower: RecognitionFollower) -> list[int]:
    """Drain until a drain finds nothing new; returns each drain's count."""

    async def run() -> list[int]:
        counts = [await follower.drain_once()]
        while counts[-1]:
            counts.append(await follower.drain_once())
        return counts

    return asyncio.run(run())


def levels_read(directory: Path) -> dict[str, str | None]:
    return {
        s.event.event_id: s.recognition.level.value if s.recognition else None
        for s in SegmentEventLog(directory).read()
    }


def stored_copies(directory: Path) -> Counter[str]:
    """How many times each event id is physically in the segments (retries included)."""
    log = SegmentEventLog(directory)
    return Counter(e.event_id for seg in log.segments() for e in log.follow(seg, 0, 10**9).events)


def test_events_of_two_writers_are_recognised_once_each_and_readable(tmp_path: Path) -> None:
    first, second = SegmentEventLog(tmp_path), SegmentEventLog(tmp_path)
    store(tmp_path, [ev(1)], first)
    store(tmp_path, [ev(2)], second)  # both workers are running now
    # a client retried e3 and the retry reached the other worker: both stored it
    store(tmp_path, [ev(3), ev(4)], first)
    store(tmp_path, [ev(3), ev(5)], second)
    assert stored_copies(tmp_path)["e3"] == 2
    assert unrecognised_bytes(tmp_path) > 0
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise)
    assert follower.take_lock()
    assert drain_all(follower) == [5, 0]
    assert recognise.recognised == Counter({f"e{n}": 1 for n in range(1, 6)})
    assert unrecognised_bytes(tmp_path) == 0
    assert follower.recognised == 5 and follower.levels == Counter(network_line=5)
    stored = {s.event.event_id: s.recognition for s in SegmentEventLog(tmp_path).read()}
    assert stored == {
        f"e{n}": Recognition(RecognitionLevel.NETWORK_LINE, "test", 0.9, {"line": f"L-e{n}"})
        for n in range(1, 6)
    }
    # the writers go on; a retry stored after its first copy was recognised is not
    # recognised again
    store(tmp_path, [ev(6)], first)
    assert drain_all(follower) == [1, 0]
    store(tmp_path, [ev(6), ev(7)], second)
    assert stored_copies(tmp_path)["e6"] == 2
    assert drain_all(follower) == [1, 0]
    assert recognise.recognised == Counter({f"e{n}": 1 for n in range(1, 8)})
    follower.close()
    first.close()
    second.close()
    assert set(levels_read(tmp_path).values()) == {"network_line"}


@pytest.mark.parametrize(("pipeline", "drains"), [(1, [3, 3, 1, 0]), (2, [6, 1, 0]), (4, [7, 0])])
def test_the_group_size_splits_a_backlog_and_a_drain_pipelines_groups(
    tmp_path: Path, pipeline: int, drains: list[int]
) -> None:
    """Groups of at most `group_events`; a drain takes up to `pipeline` of them (each one's
    records sync while the next is recognised) and leaves all durable and checkpointed."""
    store(tmp_path, [ev(n) for n in range(4)])
    store(tmp_path, [ev(n) for n in range(4, 7)])  # a second writer slot
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise, group_events=3, pipeline=pipeline)
    assert follower.take_lock()
    assert asyncio.run(follower.drain_once()) == drains[0]
    assert (unrecognised_bytes(tmp_path) == 0) == (drains[0] == 7)
    assert drain_all(follower) == drains[1:]
    assert [len(c) for c in recognise.calls] == [3, 3, 1]
    assert recognise.recognised == Counter({f"e{n}": 1 for n in range(7)})
    follower.close()
    assert unrecognised_bytes(tmp_path) == 0
    assert set(levels_read(tmp_path).values()) == {"network_line"}


def test_a_failure_mid_pipeline_keeps_the_groups_before_it_and_loses_nothing(
    tmp_path: Path,
) -> None:
    store(tmp_path, [ev(n) for n in range(7)])
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise, group_events=3, pipeline=4)
    assert follower.take_lock()
    real = recognise.__call__
    calls = 0

    def second_group_unavailable(events: Sequence[Event]) -> list[Recognition]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Unavailable("identity store down")
        return real(events)

    follower._recognise = second_group_unavailable
    with pytest.raises(Unavailable):
        asyncio.run(follower.drain_once())
    follower._recognise = recognise
    assert sum(drain_all(follower)) == 4  # the first group stays answered, once
    assert recognise.recognised == Counter({f"e{n}": 1 for n in range(7)})
    follower.close()
    assert unrecognised_bytes(tmp_path) == 0


@pytest.mark.parametrize("checkpoint", ["deleted", "stale"])
def test_a_restart_with_a_lost_or_stale_checkpoint_recognises_nothing_again(
    tmp_path: Path, checkpoint: str
) -> None:
    store(tmp_path, [ev(n) for n in range(5)])
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise, group_events=2)
    assert follower.take_lock()
    asyncio.run(follower.drain_once())
    saved = (tmp_path / CHECKPOINT).read_bytes()  # after the first group only
    drain_all(follower)
    follower.close()
    assert recognise.recognised == Counter({f"e{n}": 1 for n in range(5)})
    if checkpoint == "deleted":
        (tmp_path / CHECKPOINT).unlink()
    else:
        (tmp_path / CHECKPOINT).write_bytes(saved)
    store(tmp_path, [ev(9)])  # stored while no follower ran

    again = Recogniser()
    restarted = RecognitionFollower(tmp_path, again, group_events=2)
    assert restarted.take_lock()
    drain_all(restarted)
    restarted.close()
    assert again.recognised == Counter({"e9": 1})
    assert unrecognised_bytes(tmp_path) == 0
    assert set(levels_read(tmp_path).values()) == {"network_line"}


def test_a_poison_event_is_answered_anonymous_and_does_not_stall_the_others(
    tmp_path: Path,
) -> None:
    store(tmp_path, [ev(n) for n in range(5)])
    recognise = Recogniser(poison=["e2"])
    follower = RecognitionFollower(tmp_path, recognise)
    assert follower.take_lock()
    assert drain_all(follower) == [5, 0]
    follower.close()
    # the group failed, then each event was tried alone
    assert recognise.calls[0] == [f"e{n}" for n in range(5)]
    assert sorted(recognise.calls[1:]) == [[f"e{n}"] for n in range(5)]
    stored = {s.event.event_id: s.recognition for s in SegmentEventLog(tmp_path).read()}
    assert stored["e2"] == Recognition.anonymous("recognition_failed")
    assert {k: r.level.value for k, r in stored.items() if r and k != "e2"} == {
        f"e{n}": "network_line" for n in (0, 1, 3, 4)
    }
    assert follower.levels == Counter(network_line=4, anonymous=1)
    assert unrecognised_bytes(tmp_path) == 0


def test_unavailable_stores_leave_the_checkpoint_and_a_later_drain_catches_up(
    tmp_path: Path,
) -> None:
    store(tmp_path, [ev(1), ev(2)])
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise)
    assert follower.take_lock()
    assert drain_all(follower) == [2, 0]
    store(tmp_path, [ev(3), ev(4)])
    before = (tmp_path / CHECKPOINT).read_bytes()
    lag = unrecognised_bytes(tmp_path)
    recognise.unavailable = True
    with pytest.raises(Unavailable):
        asyncio.run(follower.drain_once())
    assert (tmp_path / CHECKPOINT).read_bytes() == before
    assert unrecognised_bytes(tmp_path) == lag > 0
    assert levels_read(tmp_path) == {
        "e1": "network_line",
        "e2": "network_line",
        "e3": None,
        "e4": None,
    }
    recognise.unavailable = False
    assert drain_all(follower) == [2, 0]
    follower.close()
    assert recognise.recognised == Counter({f"e{n}": 1 for n in range(1, 5)})
    assert unrecognised_bytes(tmp_path) == 0


def test_one_follower_per_directory(tmp_path: Path) -> None:
    store(tmp_path, [ev(1)])
    assert not follower_running(tmp_path)
    first = RecognitionFollower(tmp_path, Recogniser())
    second = RecognitionFollower(tmp_path, Recogniser())
    assert first.take_lock()
    assert follower_running(tmp_path)
    assert not second.take_lock()
    first.close()
    assert not follower_running(tmp_path)
    assert second.take_lock()
    second.close()


def test_an_event_erased_before_draining_is_never_recognised(tmp_path: Path) -> None:
    store(tmp_path, [ev(1, visitor_id="v-erased"), ev(2, visitor_id="v-kept")])
    assert SegmentEventLog(tmp_path).erase(lambda e: e.visitor_id == "v-erased") == 1
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise)
    assert follower.take_lock()
    drain_all(follower)
    follower.close()
    assert recognise.recognised == Counter({"e2": 1})
    assert levels_read(tmp_path) == {"e2": "network_line"}
    assert b"v-erased" not in b"".join(p.read_bytes() for p in tmp_path.glob("*.seg"))


def test_an_erasure_after_recognition_removes_the_recognition_too(tmp_path: Path) -> None:
    store(tmp_path, [ev(1, visitor_id="v-erased"), ev(2, visitor_id="v-kept")])
    follower = RecognitionFollower(tmp_path, Recogniser())
    assert follower.take_lock()
    drain_all(follower)
    assert SegmentEventLog(tmp_path).erase(lambda e: e.visitor_id == "v-erased") == 1
    store(tmp_path, [ev(3)])
    assert drain_all(follower) == [1, 0]  # offsets stay valid across the in-place erasure
    follower.close()
    assert levels_read(tmp_path) == {"e2": "network_line", "e3": "network_line"}
    assert b"L-e1" not in b"".join(p.read_bytes() for p in tmp_path.glob("*.seg"))


def test_records_larger_than_and_straddling_the_read_chunk_are_read(tmp_path: Path) -> None:
    chunk = eventlog_segments._READ_CHUNK
    big = [ev(n, properties={"blob": f"{n}" * (chunk // 3)}) for n in range(6)]
    huge = ev(99, properties={"blob": "x" * (chunk + chunk // 2)})  # larger than one chunk
    store(tmp_path, [*big[:3], huge, *big[3:]])
    (segment,) = tmp_path.glob("*.seg")
    assert segment.stat().st_size > 3 * chunk
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise, group_events=2, pipeline=1)
    assert follower.take_lock()
    assert drain_all(follower) == [2, 2, 2, 1, 0]
    follower.close()
    assert recognise.recognised == Counter({e.event_id: 1 for e in [*big, huge]})
    read = {s.event.event_id: s for s in SegmentEventLog(tmp_path).read()}
    assert read["e99"].event == huge and read["e4"].event == big[4]
    assert all(s.recognition is not None for s in read.values())


def test_many_small_records_across_chunk_boundaries_are_each_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(eventlog_segments, "_READ_CHUNK", 97)  # boundaries everywhere
    events = [ev(n, name=f"event {n}") for n in range(300)]
    store(tmp_path, events)
    log = SegmentEventLog(tmp_path)
    (segment,) = log.segments()
    got, offset = [], 0
    while True:  # 7 at a time, each read resuming mid-chunk where the last one stopped
        read = log.follow(segment, offset, 7)
        got += read.events
        if read.end == offset:
            break
        offset = read.end
    # The follower reads what recognition needs of each event (EventHead), all of it
    assert got == [msgspec.convert(msgspec.structs.asdict(e), EventHead) for e in events]
    assert offset == segment.stat().st_size
    assert [s.event for s in log.read()] == events


def test_the_real_chunk_size_with_many_events(tmp_path: Path) -> None:
    events = [ev(n, url=f"https://shop.example/p/{n}") for n in range(20_000)]
    store(tmp_path, events)
    (segment,) = tmp_path.glob("*.seg")
    assert segment.stat().st_size > 2 * eventlog_segments._READ_CHUNK
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise, group_events=6_000)
    assert follower.take_lock()
    assert drain_all(follower) == [20_000, 0]  # one drain: four pipelined groups
    assert [len(c) for c in recognise.calls] == [6_000, 6_000, 6_000, 2_000]
    follower.close()
    assert recognise.recognised == Counter({e.event_id: 1 for e in events})
    assert unrecognised_bytes(tmp_path) == 0


def test_pacing_waits_while_the_follower_is_behind_until_it_catches_up(tmp_path: Path) -> None:
    store(tmp_path, [ev(n) for n in range(50)])
    follower = RecognitionFollower(tmp_path, Recogniser())
    assert follower.take_lock()
    pacing = FollowerPacing(tmp_path, max_lag_bytes=100, max_wait_s=10, check_s=0.01)

    async def run() -> tuple[float, float]:
        async def drain_later() -> float:
            await asyncio.sleep(0.3)
            await follower.drain_once()
            return time.monotonic()

        drained = asyncio.create_task(drain_later())
        waited = await pacing.admit()
        return waited, await drained

    started = time.monotonic()
    waited, drained_at = asyncio.run(run())
    follower.close()
    # admitted only after the drain, long before max_wait_s
    assert waited >= 0.25 and drained_at - started <= waited + 0.1
    assert waited < 5


def test_pacing_does_not_wait_without_a_running_follower(tmp_path: Path) -> None:
    store(tmp_path, [ev(n) for n in range(50)])
    assert unrecognised_bytes(tmp_path) > 100
    pacing = FollowerPacing(tmp_path, max_lag_bytes=100, max_wait_s=10, check_s=0.01)
    assert asyncio.run(pacing.admit()) == 0.0


def test_pacing_gives_up_after_max_wait(tmp_path: Path) -> None:
    store(tmp_path, [ev(n) for n in range(50)])
    stuck = RecognitionFollower(tmp_path, Recogniser())
    assert stuck.take_lock()  # holds the lock, never drains
    pacing = FollowerPacing(tmp_path, max_lag_bytes=100, max_wait_s=0.2, check_s=0.01)
    waited = asyncio.run(pacing.admit())
    stuck.close()
    assert 0.2 <= waited < 2


class CountingAdmission:
    def __init__(self) -> None:
        self.calls = 0

    async def admit(self) -> float:
        self.calls += 1
        return 0.0


def test_a_collector_with_an_admission_stores_without_recognising(tmp_path: Path) -> None:
    log = SegmentEventLog(tmp_path)
    admission = CountingAdmission()
    collector = Collector(log, None, admission)
    accepted = asyncio.run(collector.accept([ev(1), ev(2)]))
    again = asyncio.run(collector.accept([ev(2), ev(3)]))
    log.close()
    assert (accepted.stored, accepted.duplicates, accepted.recognitions) == (2, 0, [])
    assert accepted.unrecognised == 0
    assert (again.stored, again.duplicates) == (1, 1)
    assert admission.calls == 2
    assert levels_read(tmp_path) == {"e1": None, "e2": None, "e3": None}


def test_a_collector_recognises_inline_or_is_paced_or_both_by_request_size(
    tmp_path: Path,
) -> None:
    log = SegmentEventLog(tmp_path)
    with pytest.raises(ValueError, match="inline or is paced"):
        Collector(log, None)
    with pytest.raises(ValueError, match="inline_from >= 1"):
        Collector(log, object(), CountingAdmission())  # type: ignore[arg-type]


class AsyncRecogniser:
    """The collector's Recognizer over a Recogniser (what a worker recognises inline)."""

    def __init__(self, recognise: Recogniser) -> None:
        self.recognise = recognise

    async def recognise_many(self, events: Sequence[Event]) -> list[Recognition]:
        return self.recognise(events)


def test_batches_are_recognised_by_their_worker_and_the_rest_by_the_follower_once_each(
    tmp_path: Path,
) -> None:
    """Follower mode with inline batches: a request of at least `inline_from` events is
    recognised before its reply, and the follower passes over those events (stored
    `inline`), recognising only the smaller requests' — each event once, none pending."""
    worker = Recogniser()
    admission = CountingAdmission()
    log = SegmentEventLog(tmp_path)
    collector = Collector(log, AsyncRecogniser(worker), admission, inline_from=3)
    batch = asyncio.run(collector.accept([ev(1), ev(2), ev(3)]))
    single = asyncio.run(collector.accept([ev(4)]))
    retried = asyncio.run(collector.accept([ev(4), ev(5), ev(6)]))  # a batch with a retry
    log.close()
    assert [r.level for r in batch.recognitions] == [RecognitionLevel.NETWORK_LINE] * 3
    assert (single.stored, single.recognitions) == (1, [])
    assert (retried.stored, retried.duplicates, len(retried.recognitions)) == (2, 1, 2)
    assert admission.calls == 1  # only the single waited for the follower's pace
    assert worker.recognised == Counter({"e1": 1, "e2": 1, "e3": 1, "e5": 1, "e6": 1})
    assert levels_read(tmp_path)["e4"] is None

    follower_recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, follower_recognise, group_events=10)
    assert follower.take_lock()
    assert drain_all(follower) == [1, 0]
    follower.close()
    assert follower_recognise.recognised == Counter({"e4": 1})
    assert follower.damaged == 0  # passed over, not taken for damaged records
    assert set(levels_read(tmp_path).values()) == {"network_line"}
    assert unrecognised_bytes(tmp_path) == 0


def test_a_batch_its_worker_cannot_recognise_is_handed_over_to_the_follower(
    tmp_path: Path,
) -> None:
    """Stores unavailable to the worker: the batch still gets its reply, stays pending, and
    is stored again (not `inline`), so the follower recognises it once it can; readers
    show each event once."""
    worker = Recogniser()
    worker.unavailable = True
    log = SegmentEventLog(tmp_path)
    collector = Collector(log, AsyncRecogniser(worker), CountingAdmission(), inline_from=2)
    accepted = asyncio.run(collector.accept([ev(1), ev(2)]))
    log.close()
    assert (accepted.stored, accepted.unrecognised) == (2, 2)
    assert levels_read(tmp_path) == {"e1": None, "e2": None}

    follower_recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, follower_recognise, group_events=10)
    assert follower.take_lock()
    assert drain_all(follower) == [2, 0]
    follower.close()
    assert follower_recognise.recognised == Counter({"e1": 1, "e2": 1})
    assert levels_read(tmp_path) == {"e1": "network_line", "e2": "network_line"}
    assert [s.event.event_id for s in SegmentEventLog(tmp_path).read()] == ["e1", "e2"]


def test_follower_mode_needs_the_segment_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETCX_CONFIG", raising=False)
    with pytest.raises(
        ConfigError, match=r"collect\.recognition=follower needs collect\.event_log"
    ):
        load_settings(collect={"recognition": "follower", "event_log": "memory"})


def test_follower_mode_refuses_a_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETCX_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"scale\.bus\.backend=redis"):
        load_settings(collect={"recognition": "follower"}, scale={"bus": {"backend": "redis"}})
    assert load_settings(collect={"recognition": "follower"}).collect.recognition == "follower"


@pytest.fixture
def streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every flush counts as recent, so each group lingers however slow this disk's syncs
    are (the linger applies only while requests stream in)."""
    monkeypatch.setattr(eventlog_segments, "_BUSY_S", 3600.0)


def test_appends_with_a_linger_are_durable_and_readable_when_they_return(
    tmp_path: Path, streaming: None
) -> None:
    log = SegmentEventLog(tmp_path, linger_ms=20)

    async def stream() -> list[float]:
        lingered = []
        for n in range(0, 20, 2):
            await log.append([ev(n)])
            started = time.monotonic()
            # right after a flush: requests are streaming in, this group lingers
            assert await log.append([ev(n + 1)]) == [True]
            lingered.append(time.monotonic() - started)
            # returned: on disk, visible to another reader
            assert {f"e{n}", f"e{n + 1}"} <= set(levels_read(tmp_path))
        return lingered

    lingered = asyncio.run(stream())
    log.close()
    assert min(lingered) >= 0.015  # the linger path ran
    assert list(levels_read(tmp_path)) == [f"e{n}" for n in range(20)]


def test_a_lingering_group_of_a_megabyte_is_written_at_once(
    tmp_path: Path, streaming: None
) -> None:
    log = SegmentEventLog(tmp_path, linger_ms=60_000)  # a linger that would never end

    async def stream() -> None:
        await log.append([ev(0)])
        blob = "x" * (eventlog_segments._FLUSH_NOW_BYTES // 4)
        parts = [log.append([ev(n, properties={"blob": blob})]) for n in range(1, 6)]
        await asyncio.wait_for(asyncio.gather(*parts), 10)

    asyncio.run(stream())
    log.close()
    assert list(levels_read(tmp_path)) == [f"e{n}" for n in range(6)]


def test_a_single_append_of_a_megabyte_does_not_linger(tmp_path: Path, streaming: None) -> None:
    log = SegmentEventLog(tmp_path, linger_ms=60_000)

    async def stream() -> None:
        await log.append([ev(0)])
        blob = "x" * eventlog_segments._FLUSH_NOW_BYTES
        await asyncio.wait_for(log.append([ev(1, properties={"blob": blob})]), 10)

    asyncio.run(stream())
    log.close()
    assert list(levels_read(tmp_path)) == ["e0", "e1"]


def test_a_retry_stored_after_a_follower_restart_is_not_recognised_again(tmp_path: Path) -> None:
    first, second = SegmentEventLog(tmp_path), SegmentEventLog(tmp_path)
    store(tmp_path, [ev(1)], first)
    store(tmp_path, [ev(2)], second)  # both workers are running now
    store(tmp_path, [ev(3)], first)
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise)
    assert follower.take_lock()
    assert drain_all(follower) == [3, 0]
    follower.close()  # e.g. serve restarts it
    # the client's retry of e3 reached the other worker, which had not seen e3
    store(tmp_path, [ev(3), ev(4)], second)
    assert stored_copies(tmp_path)["e3"] == 2
    restarted = RecognitionFollower(tmp_path, recognise)
    assert restarted.take_lock()
    assert drain_all(restarted) == [1, 0]
    restarted.close()
    first.close()
    second.close()
    assert recognise.recognised == Counter({f"e{n}": 1 for n in range(1, 5)})


def test_run_follows_new_events_and_a_waiting_follower_takes_over(tmp_path: Path) -> None:
    store(tmp_path, [ev(1)])
    first_calls, second_calls = Recogniser(), Recogniser()
    first = RecognitionFollower(tmp_path, first_calls)
    second = RecognitionFollower(tmp_path, second_calls)
    writer = SegmentEventLog(tmp_path)

    async def scenario() -> None:
        stop_first, stop_second = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(first.run(stop_first, poll_interval_s=0.005))
        await until(lambda: first_calls.recognised["e1"] == 1)
        waiting = asyncio.create_task(second.run(stop_second, lock_retry_s=0.05))
        await writer.append([ev(2), ev(3)])  # the running follower picks them up
        await until(lambda: len(first_calls.recognised) == 3)
        stop_first.set()
        await running
        first.close()  # lets go of the lock: the waiting follower becomes the follower
        await writer.append([ev(4)])
        await until(lambda: second_calls.recognised["e4"] == 1)
        stop_second.set()
        await waiting

    asyncio.run(scenario())
    second.close()
    writer.close()
    assert first_calls.recognised == Counter(e1=1, e2=1, e3=1)
    assert second_calls.recognised == Counter(e4=1)
    assert set(levels_read(tmp_path).values()) == {"network_line"}


def test_run_retries_while_the_stores_are_unavailable(tmp_path: Path) -> None:
    store(tmp_path, [ev(1), ev(2)])
    recognise = Recogniser()
    recognise.unavailable = True
    follower = RecognitionFollower(tmp_path, recognise)

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(follower.run(stop))
        await asyncio.sleep(0.3)  # a few failed attempts
        assert levels_read(tmp_path) == {"e1": None, "e2": None}
        recognise.unavailable = False
        await until(lambda: len(recognise.recognised) == 2, timeout_s=10)
        stop.set()
        await running

    asyncio.run(scenario())
    follower.close()
    assert recognise.recognised == Counter(e1=1, e2=1)
    assert levels_read(tmp_path) == {"e1": "network_line", "e2": "network_line"}


async def until(check: Callable[[], bool], timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the timeout"
        await asyncio.sleep(0.01)


def test_a_segment_erased_away_is_forgotten_by_the_checkpoint(tmp_path: Path) -> None:
    store(tmp_path, [ev(1, visitor_id="v-erased")])  # this writer then moves on
    (gone,) = [p.name for p in SegmentEventLog(tmp_path).segments()]
    follower = RecognitionFollower(tmp_path, Recogniser())
    assert follower.take_lock()
    drain_all(follower)
    assert gone in json.loads((tmp_path / CHECKPOINT).read_text())
    assert SegmentEventLog(tmp_path).erase(lambda e: e.visitor_id == "v-erased") == 1
    assert not (tmp_path / gone).exists()  # fillers only: deleted
    store(tmp_path, [ev(2)])
    assert drain_all(follower) == [1, 0]
    follower.close()
    assert gone not in json.loads((tmp_path / CHECKPOINT).read_text())
    assert levels_read(tmp_path) == {"e2": "network_line"}
    assert unrecognised_bytes(tmp_path) == 0


def test_a_torn_tail_left_by_a_crashed_writer_is_no_lag_once_its_slot_moves_on(
    tmp_path: Path,
) -> None:
    store(tmp_path, [ev(1), ev(2)])
    (crashed,) = SegmentEventLog(tmp_path).segments()
    data = crashed.read_bytes()
    crashed.write_bytes(data + data[:12])  # killed in the middle of writing a record
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise)
    assert follower.take_lock()
    assert drain_all(follower) == [2, 0]
    restarted = SegmentEventLog(tmp_path)  # the worker comes back in the same slot
    store(tmp_path, [ev(3)], restarted)
    assert drain_all(follower) == [1, 0]
    assert unrecognised_bytes(tmp_path) == 0  # nobody appends to the torn segment again
    follower.close()
    restarted.close()
    assert recognise.recognised == Counter(e1=1, e2=1, e3=1)


def test_an_undecodable_record_is_skipped_and_reported_not_a_stall(tmp_path: Path) -> None:
    """A record whose checksum holds but whose payload is no event (a bug in some writer,
    a bit flip the CRC missed) is skipped with a warning; what follows it is recognised."""
    store(tmp_path, [ev(1)])
    segment = SegmentEventLog(tmp_path).segments()[0]
    payload = eventlog_segments._EVENT_PREFIX + b"\xc0"  # an event record holding nil
    frame = eventlog_segments._FRAME.pack(len(payload), eventlog_segments.zlib.crc32(payload))
    with segment.open("ab") as f:
        f.write(frame + payload)
    store(tmp_path, [ev(2)])  # a writer opening past it still starts
    recognise = Recogniser()
    follower = RecognitionFollower(tmp_path, recognise)
    assert follower.take_lock()
    assert sum(drain_all(follower)) == 2
    assert recognise.recognised == Counter({"e1": 1, "e2": 1})
    assert follower.damaged == 1
    assert unrecognised_bytes(tmp_path) == 0
