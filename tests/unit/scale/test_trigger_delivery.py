"""The trigger worker's delivery step: malformed records go to dead letters (the batch goes
on), a delivered trigger is not sent again, and the configuration refuses a trigger that
would be delivered by both serve and the workers."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import msgspec
import pytest

from netcx.adapters.triggers.dead_letters import FolderDeadLetterStore
from netcx.adapters.triggers.delivered import MemoryDeliveredTriggers
from netcx.adapters.triggers.queue import QueuedTriggerSink
from netcx.bootstrap import build_trigger_delivery, build_trigger_sink
from netcx.config import Settings, TriggerSettings
from netcx.domain.decisions.triggers import Trigger, TriggerRecord
from netcx.errors import ConfigError, Unavailable
from netcx.services.bus_workers import (
    OnceTransport,
    Polling,
    TriggerDelivery,
    WorkerStatus,
    run_trigger_worker,
)
from tests.contract.test_trigger_sink import sample_triggers


class Recorder:
    """A TriggerTransport that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def deliver(self, body: bytes, trigger: Trigger) -> None:
        self.sent.append(trigger.idempotency_key)

    def close(self) -> None:
        """Nothing to release."""


class ListConsumer:
    """A TriggerConsumer over a list, returned in one batch; remembers commits."""

    def __init__(self, records: list[TriggerRecord], stop: asyncio.Event) -> None:
        self._records = records
        self._stop = stop
        self.commits = 0

    async def poll(self, max_records: int, timeout_ms: int) -> list[TriggerRecord]:
        out, self._records = self._records, []
        if not out:
            self._stop.set()
        return out

    async def commit(self) -> None:
        self.commits += 1

    async def close(self) -> None:
        """Nothing to release."""


def delivery(tmp_path: Path, ledger: MemoryDeliveredTriggers) -> tuple[TriggerDelivery, Recorder]:
    recorder = Recorder()
    once = OnceTransport(recorder, ledger)
    dead = FolderDeadLetterStore(tmp_path / "dead")
    sink = QueuedTriggerSink(once, dead, name="test", dead_letter_on_close=False)
    return TriggerDelivery(sink, once, dead), recorder


def run(d: TriggerDelivery, records: list[TriggerRecord]) -> tuple[WorkerStatus, int]:
    async def go() -> tuple[WorkerStatus, int]:
        stop, status = asyncio.Event(), WorkerStatus()
        consumer = ListConsumer(records, stop)
        await run_trigger_worker(consumer, d, status, stop, Polling(batch_size=50, poll_ms=1))
        return status, consumer.commits

    return asyncio.run(go())


def test_malformed_records_are_dead_lettered_and_the_batch_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = sample_triggers(3)
    evil = msgspec.structs.replace(good[0], trigger_id="../../etc/passwd")
    records = [
        TriggerRecord("t/0/0", msgspec.json.encode(good[0])),
        TriggerRecord("t/0/1", b'{"msisdn": "+4915112345678"'),
        TriggerRecord("t/0/2", msgspec.json.encode(evil)),
        TriggerRecord("t/0/3", b'{"schema": "netcx.trigger", "ids": {"account": 5}}'),
        *(TriggerRecord(f"t/1/{i}", msgspec.json.encode(t)) for i, t in enumerate(good[1:])),
    ]
    ledger = MemoryDeliveredTriggers()
    d, recorder = delivery(tmp_path, ledger)
    with caplog.at_level(logging.WARNING, logger="netcx.bus.worker"):
        status, commits = run(d, records)
    assert sorted(recorder.sent) == sorted(t.idempotency_key for t in good)
    assert (status.triggers_delivered, status.triggers_malformed, commits) == (3, 3, 1)
    dead = FolderDeadLetterStore(tmp_path / "dead")
    names = sorted(n for n, _ in dead.list())
    assert names == ["malformed-t-0-1", "malformed-t-0-2", "malformed-t-0-3"]
    assert not list(tmp_path.glob("**/passwd*"))  # an id from the record never names a file
    assert "trigger_id" in dead.error("malformed-t-0-2")
    assert "+4915112345678" not in caplog.text and "etc/passwd" not in caplog.text
    assert "position=t/0/1 error=not_json" in caplog.text
    # redelivered (another member, a replay group): the ledger knows them, no new letters
    again, resent = delivery(tmp_path, ledger)
    status, _ = run(again, records)
    assert resent.sent == [] and len(dead.list()) == 3
    assert (status.triggers_malformed, status.redeliveries) == (0, 6)


def test_a_redelivered_trigger_is_not_sent_again(tmp_path: Path) -> None:
    ledger = MemoryDeliveredTriggers()
    triggers = sample_triggers(4)
    records = [TriggerRecord(f"t/0/{i}", msgspec.json.encode(t)) for i, t in enumerate(triggers)]
    first, sent_first = delivery(tmp_path, ledger)
    run(first, records[:3])
    again, sent_again = delivery(tmp_path, ledger)  # another member, after a rebalance
    status, _ = run(again, records)
    assert len(sent_first.sent) == 3 and sent_again.sent == [triggers[3].idempotency_key]
    assert (status.triggers_delivered, status.redeliveries) == (1, 3)


@pytest.mark.parametrize("sink", ["kafka", "redis", "memory"])
def test_workers_deliver_to_webhooks_only(tmp_path: Path, sink: str) -> None:
    settings = Settings(
        storage={"data_dir": tmp_path},  # type: ignore[arg-type]
        decisions={"triggers": TriggerSettings(sink=sink, deliver_inline=False)},  # type: ignore[arg-type]
    )
    with pytest.raises(ConfigError, match=r"decisions.triggers.deliver_inline=false.*'webhook'"):
        build_trigger_delivery(settings)
    if sink != "memory":
        with pytest.raises(ConfigError, match=rf"sink to 'webhook' .*{sink}"):
            build_trigger_sink(settings)


def test_workers_refuse_to_idle_while_serve_delivers_inline(tmp_path: Path) -> None:
    t = TriggerSettings(sink="webhook", webhook_url="http://127.0.0.1:9/x")
    settings = Settings(
        storage={"data_dir": tmp_path},  # type: ignore[arg-type]
        decisions={"triggers": t},  # type: ignore[arg-type]
    )
    with pytest.raises(ConfigError, match="deliver_inline is true"):
        build_trigger_delivery(settings)


def test_serve_publishes_to_the_bus_instead_of_delivering(tmp_path: Path) -> None:
    t = TriggerSettings(
        sink="webhook", webhook_url="http://127.0.0.1:9/x", deliver_inline=False, bus="redis"
    )
    settings = Settings(
        storage={"data_dir": tmp_path},  # type: ignore[arg-type]
        decisions={"triggers": t},  # type: ignore[arg-type]
    )
    sink = build_trigger_sink(settings)
    assert isinstance(sink, QueuedTriggerSink) and sink.name == "redis"
    sink.close()
    inline = build_trigger_sink(
        settings.model_copy(
            update={
                "decisions": settings.decisions.model_copy(
                    update={"triggers": t.model_copy(update={"deliver_inline": True})}
                )
            }
        )
    )
    assert isinstance(inline, QueuedTriggerSink) and inline.name == "webhook"
    inline.close()


class DownLedger:
    """A ledger whose store is unreachable."""

    def delivered(self, key: str) -> bool:
        raise Unavailable("redis: delivered-trigger ledger: connection refused")

    def mark(self, key: str) -> None:
        raise Unavailable("redis: delivered-trigger ledger: connection refused")

    def close(self) -> None:
        """Nothing to release."""


def test_an_unreachable_ledger_neither_holds_back_nor_repeats_a_delivery() -> None:
    recorder = Recorder()
    once = OnceTransport(recorder, DownLedger())
    t = sample_triggers(1)[0]
    once.deliver(msgspec.json.encode(t), t)  # does not raise: no retry of a delivered trigger
    assert recorder.sent == [t.idempotency_key]
    assert (once.sent, once.ledger_errors) == (1, 2)


class Refusing(Recorder):
    def deliver(self, body: bytes, trigger: Trigger) -> None:
        raise ConnectionError("CVM down")


def test_a_stopping_worker_leaves_undelivered_triggers_to_the_group(tmp_path: Path) -> None:
    """Its batch is uncommitted, so they come back: no dead letter (nor a second copy)."""
    dead = FolderDeadLetterStore(tmp_path / "dead")
    sink = QueuedTriggerSink(
        Refusing(), dead, name="w", backoff_initial_s=30, dead_letter_on_close=False
    )
    for t in sample_triggers(3):
        sink.submit(t)
    assert not sink.flush(timeout_s=0.3)  # retrying, far from its last attempt
    sink.close()
    assert dead.list() == [] and sink.dead_lettered == 0
