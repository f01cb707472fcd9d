"""Redis Streams trigger stream: XADD one entry per trigger (key, idempotency_key, schema,
body); and the consumer group of the delivery workers (`netcx bus triggers`) on it."""

from __future__ import annotations

import redis

from netcx.adapters.bus.redis_streams import RedisStreamsConsumer
from netcx.domain.decisions.triggers import SCHEMA, SCHEMA_VERSION, Trigger, TriggerRecord


class RedisStreamTransport:
    def __init__(self, url: str, stream: str, timeout_s: float) -> None:
        self._stream = stream
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    def deliver(self, body: bytes, trigger: Trigger) -> None:
        self._client.xadd(
            self._stream,
            {
                "key": trigger.partition_key,
                "idempotency_key": trigger.idempotency_key,
                "schema": f"{SCHEMA}/{SCHEMA_VERSION}",
                "body": body,
            },
        )

    def close(self) -> None:
        self._client.close()


def _trigger_record(stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> TriggerRecord:
    return TriggerRecord(f"{stream}/{entry_id.decode()}", fields.get(b"body", b""))


class RedisTriggerBus:
    """The trigger stream as a TriggerBus: one stream, its group's members share its entries
    (a member that died has its unacknowledged entries claimed after `claim_idle_ms`)."""

    def __init__(self, url: str, stream: str, claim_idle_ms: int = 30_000) -> None:
        self._url = url
        self._stream = stream
        self._claim_idle_ms = claim_idle_ms

    def consumer(self, group: str, member: str) -> RedisStreamsConsumer[TriggerRecord]:
        return RedisStreamsConsumer(
            self._url, [self._stream], group, member, self._claim_idle_ms, _trigger_record
        )

    async def close(self) -> None:
        """Nothing shared to release: each consumer closes itself."""
