"""Redis Streams transport: XADD one entry per trigger (key, idempotency_key, schema, body)."""

from __future__ import annotations

import redis

from netcx.domain.decisions.triggers import SCHEMA, SCHEMA_VERSION, Trigger


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
