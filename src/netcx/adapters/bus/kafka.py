"""EventBus on a Kafka-protocol broker (Kafka, Redpanda, Tansu) with aiokafka.

One record per stored event, keyed by its partition key (line pseudonym, or visitor
pseudonym when unrecognised), so the default partitioner keeps one line's events in order on
one partition. Producer `acks=all`; consumers commit offsets only after their work is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from netcx.domain.events import StoredEvent
from netcx.errors import Unavailable

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(StoredEvent).decode
T = TypeVar("T")


def _stored_event(record: Any) -> StoredEvent:
    return _decode(record.value)


async def ensure_topic(bootstrap: str, topic: str, partitions: int, retention_ms: int) -> None:
    """Create the topic if it does not exist yet, its records kept `retention_ms` (a topic
    cannot delete one record: this bounds how long an erased subject's copies live)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(
                        topic,
                        num_partitions=partitions,
                        replication_factor=1,
                        topic_configs={"retention.ms": str(retention_ms)},
                    )
                ]
            )
    except KafkaError as err:
        raise Unavailable(f"kafka {bootstrap}: cannot create topic {topic}: {err}") from err
    finally:
        await admin.close()


class KafkaEventBus:
    def __init__(
        self, bootstrap: str, topic: str, partitions: int = 6, retention_ms: int = 7 * 86_400_000
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._partitions = partitions
        self._retention_ms = retention_ms
        self._producer: Any = None

    async def _started_producer(self) -> Any:
        if self._producer is None:
            await ensure_topic(self._bootstrap, self._topic, self._partitions, self._retention_ms)
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                linger_ms=5,
                request_timeout_ms=5000,
            )
            try:
                await producer.start()
            except KafkaError as err:
                await producer.stop()
                raise Unavailable(f"kafka {self._bootstrap}: {err}") from err
            self._producer = producer
        return self._producer

    async def publish(self, records: Sequence[tuple[str, StoredEvent]]) -> None:
        if not records:
            return
        producer = await self._started_producer()
        try:
            futures = [
                await producer.send(self._topic, _encode(event), key=key.encode())
                for key, event in records
            ]
            for f in futures:
                await f
        except KafkaError as err:
            # The producer may be wedged on a dead connection: start afresh next time.
            self._producer = None
            await producer.stop()
            raise Unavailable(f"kafka {self._bootstrap}: publish failed: {err}") from err

    def consumer(self, group: str, member: str) -> KafkaBusConsumer[StoredEvent]:
        return KafkaBusConsumer(self._bootstrap, self._topic, group, member, _stored_event)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class KafkaBusConsumer(Generic[T]):
    """A group member; `decode` turns a ConsumerRecord into what `poll` returns. With
    `create_topic` (partitions, retention_ms) it creates the topic first if missing."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        member: str,
        decode: Callable[[Any], T],
        create_topic: tuple[int, int] | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._member = member
        self._decode = decode
        self._create_topic = create_topic
        self._consumer: Any = None

    async def _started(self) -> Any:
        if self._consumer is None:
            if self._create_topic is not None:
                await ensure_topic(self._bootstrap, self._topic, *self._create_topic)
            consumer = AIOKafkaConsumer(
                self._topic,
                bootstrap_servers=self._bootstrap,
                group_id=self._group,
                client_id=self._member,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=3000,
                heartbeat_interval_ms=300,
            )
            try:
                await consumer.start()
            except KafkaError as err:
                await consumer.stop()
                raise Unavailable(f"kafka {self._bootstrap}: {err}") from err
            self._consumer = consumer
        return self._consumer

    async def poll(self, max_records: int, timeout_ms: int) -> list[T]:
        consumer = await self._started()
        try:
            batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as err:
            raise Unavailable(f"kafka {self._bootstrap}: poll failed: {err}") from err
        return [self._decode(r) for records in batches.values() for r in records]

    async def commit(self) -> None:
        if self._consumer is not None:
            try:
                await self._consumer.commit()
            except KafkaError as err:
                raise Unavailable(f"kafka {self._bootstrap}: commit failed: {err}") from err

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
