"""The bus intent worker: subjects of a stored event, and the resolve worker's handling of
an unreachable state (degraded, uncommitted, retried) and of redeliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from netcx.adapters.storage.intent_state_memory import MemoryIntentStateStore
from netcx.domain.events import Event, Recognition, RecognitionLevel, Source, StoredEvent
from netcx.domain.intents.scoring import SubjectState
from netcx.domain.pseudonyms import IdKind
from netcx.errors import Unavailable
from netcx.services.bus_workers import (
    BusIntentScorer,
    Polling,
    WorkerStatus,
    intent_subjects,
    run_intent_worker,
)
from netcx.services.intents import IntentService, load_taxonomy


def fake_pseudonym(kind: IdKind, raw: str) -> str:
    return f"{kind.name.lower()}:{raw}"


def item(i: int, recognised: bool = False) -> StoredEvent:
    event = Event(
        source=Source.SEGMENT,
        event_id=f"e{i}",
        type="page",
        received_ms=1000 * i,
        visitor_id="v1",
        search="kündigungsfrist" if i % 2 else "tarif",
    )
    rec = Recognition(RecognitionLevel.NETWORK_LINE, ids={"line": "ln", "household": "hh"})
    return StoredEvent(event, rec if recognised else None)


class FlakyStore(MemoryIntentStateStore):
    """Unreachable for the first `failures` writes."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def update_many(
        self, changes: Mapping[str, Callable[[SubjectState | None], SubjectState]]
    ) -> dict[str, SubjectState]:
        if self.failures > 0:
            self.failures -= 1
            raise Unavailable("intent state store (redis): connection refused")
        return super().update_many(changes)


class ListConsumer:
    """Batches to hand out; `commit` marks everything polled so far; `rewind` redelivers
    what was not committed (a restart)."""

    def __init__(self, batches: list[list[StoredEvent]], stop: asyncio.Event) -> None:
        self.batches, self.stop = batches, stop
        self.next = self.committed = 0
        self.commits = 0

    async def poll(self, max_records: int, timeout_ms: int) -> list[StoredEvent]:
        if self.next == len(self.batches):
            self.stop.set()
            await asyncio.sleep(0)
            return []
        self.next += 1
        return self.batches[self.next - 1]

    async def commit(self) -> None:
        self.committed = self.next
        self.commits += 1

    async def close(self) -> None:
        pass


def run(store: MemoryIntentStateStore, batches: list[list[StoredEvent]]) -> WorkerStatus:
    async def go() -> WorkerStatus:
        stop = asyncio.Event()
        status = WorkerStatus()
        scorer = BusIntentScorer(IntentService(load_taxonomy(), store), fake_pseudonym)
        await run_intent_worker(
            ListConsumer(batches, stop), scorer, status, stop, Polling(retry_s=0)
        )
        return status

    return asyncio.run(go())


def test_subjects_are_the_visitor_then_the_recognised_line_and_household() -> None:
    assert intent_subjects(item(1), fake_pseudonym) == ["visitor:v1"]
    assert intent_subjects(item(1, True), fake_pseudonym) == ["visitor:v1", "ln", "hh"]
    login_only = StoredEvent(
        Event(source=Source.TAG, event_id="x", type="track", received_ms=1, user_id="u9")
    )
    assert intent_subjects(login_only, fake_pseudonym) == ["subscriber:u9"]
    nobody = StoredEvent(Event(source=Source.TAG, event_id="y", type="track", received_ms=1))
    assert intent_subjects(nobody, fake_pseudonym) == []


def test_unreachable_state_degrades_retries_and_ends_like_a_clean_pass() -> None:
    batches = [[item(1), item(2, True)], [item(3, True), item(4)]]
    clean = MemoryIntentStateStore()
    run(clean, batches)
    flaky = FlakyStore(failures=3)
    status = run(flaky, batches)
    assert status.history == ["degraded", "ok"]
    assert "connection refused" not in status.last_error  # cleared once back
    assert status.online_state == "ok"
    assert status.events_scored == 4 and status.redeliveries == 0
    assert flaky.get_many(["visitor:v1", "ln", "hh"]) == clean.get_many(["visitor:v1", "ln", "hh"])


def test_a_redelivered_batch_changes_nothing() -> None:
    batches = [[item(1), item(2, True)], [item(3, True), item(4)]]
    store = MemoryIntentStateStore()
    run(store, batches)
    before = store.get_many(["visitor:v1", "ln", "hh"])
    status = run(store, batches[1:] + batches)  # a restart before the commits
    assert store.get_many(["visitor:v1", "ln", "hh"]) == before
    assert status.redeliveries == 6 and status.intent_applied == 0
    assert before["visitor:v1"].applied == ("segment:e1", "segment:e2", "segment:e3", "segment:e4")
    assert before["hh"].applied == ("segment:e2", "segment:e3")
