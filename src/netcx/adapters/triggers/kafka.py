"""Kafka-protocol trigger topic (aiokafka): one record per trigger, keyed by the account
pseudonym; and the consumer group of the delivery workers (`netcx bus triggers`) on it."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

from netcx.adapters.bus.kafka import KafkaBusConsumer, ensure_topic
from netcx.domain.decisions.triggers import (
    IDEMPOTENCY_HEADER,
    SCHEMA,
    SCHEMA_VERSION,
    Trigger,
    TriggerRecord,
)


class KafkaTransport:
    """Owns a private event loop; `deliver` is called from one thread at a time (the queue)."""

    def __init__(
        self, bootstrap: str, topic: str, timeout_s: float, topic_config: tuple[int, int]
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._topic_config = topic_config  # (partitions, retention_ms) if netcx creates it
        self._timeout_ms = int(timeout_s * 1000)
        self._loop = asyncio.new_event_loop()
        self._producer: AIOKafkaProducer | None = None

    async def _send(self, body: bytes, trigger: Trigger) -> None:
        if self._producer is None:
            await ensure_topic(self._bootstrap, self._topic, *self._topic_config)
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                request_timeout_ms=self._timeout_ms,
                acks="all",
            )
            try:
                await producer.start()
            except Exception:
                await producer.stop()  # retried later with a fresh producer
                raise
            self._producer = producer
        await self._producer.send_and_wait(
            self._topic,
            value=body,
            key=trigger.partition_key.encode(),
            headers=[
                (IDEMPOTENCY_HEADER, trigger.idempotency_key.encode()),
                ("schema", f"{SCHEMA}/{SCHEMA_VERSION}".encode()),
            ],
        )

    def deliver(self, body: bytes, trigger: Trigger) -> None:
        self._loop.run_until_complete(self._send(body, trigger))

    def close(self) -> None:
        if self._producer is not None:
            self._loop.run_until_complete(self._producer.stop())
            self._producer = None
        self._loop.close()


def _trigger_record(record: Any) -> TriggerRecord:
    return TriggerRecord(f"{record.topic}/{record.partition}/{record.offset}", record.value or b"")


class KafkaTriggerBus:
    """The trigger topic as a TriggerBus: each group shares its partitions."""

    def __init__(self, bootstrap: str, topic: str, topic_config: tuple[int, int]) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._topic_config = topic_config

    def consumer(self, group: str, member: str) -> KafkaBusConsumer[TriggerRecord]:
        return KafkaBusConsumer(
            self._bootstrap, self._topic, group, member, _trigger_record, self._topic_config
        )

    async def close(self) -> None:
        """Nothing shared to release: each consumer closes itself."""
