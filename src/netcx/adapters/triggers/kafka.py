"""Kafka-protocol transport (aiokafka): one record per trigger, keyed by the account pseudonym."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from netcx.domain.decisions.triggers import IDEMPOTENCY_HEADER, SCHEMA, SCHEMA_VERSION, Trigger


class KafkaTransport:
    """Owns a private event loop; `deliver` is called from one thread at a time (the queue)."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._timeout_ms = int(timeout_s * 1000)
        self._loop = asyncio.new_event_loop()
        self._producer: AIOKafkaProducer | None = None

    async def _send(self, body: bytes, trigger: Trigger) -> None:
        if self._producer is None:
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
