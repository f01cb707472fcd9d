"""EventBus on Redis Streams (the lighter alternative to a Kafka-protocol broker).

A topic is `partitions` streams, `<prefix>:{bus:<topic>:<p>}:events` (one hash tag each, so
every command touches one cluster slot); an event goes to partition crc32(key) mod n. A
consumer group is created on every partition stream; members read new entries with
XREADGROUP and acknowledge with XACK after their work; a member starting up first re-reads
what it had been given but not acknowledged, and when idle takes over (XAUTOCLAIM) entries
another member was given but has not acknowledged for `claim_idle_ms` (a member that died).
Durability is Redis's: run it with `appendonly yes` (`appendfsync always` to survive power
loss).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import msgspec
from redis import asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from netcx.domain.events import StoredEvent
from netcx.errors import Unavailable

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(StoredEvent).decode
T = TypeVar("T")

EntryDecoder = Callable[[str, bytes, dict[bytes, bytes]], T]
"""(stream, entry id, fields) → what a consumer's `poll` returns."""


def _stored_event(stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> StoredEvent:
    return _decode(fields[b"v"])


def stream_names(prefix: str, topic: str, partitions: int) -> list[str]:
    return [f"{prefix}:{{bus:{topic}:{p}}}:events" for p in range(partitions)]


class RedisStreamsEventBus:
    def __init__(
        self,
        url: str,
        topic: str,
        partitions: int = 6,
        prefix: str = "netcx",
        claim_idle_ms: int = 30_000,
    ) -> None:
        self._url = url
        self._claim_idle_ms = claim_idle_ms
        self._r: Any = aioredis.Redis.from_url(url, decode_responses=False)
        self._streams = stream_names(prefix, topic, partitions)

    async def publish(self, records: Sequence[tuple[str, StoredEvent]]) -> None:
        if not records:
            return
        pipe = self._r.pipeline(transaction=False)
        for key, event in records:
            stream = self._streams[zlib.crc32(key.encode()) % len(self._streams)]
            pipe.xadd(stream, {b"k": key.encode(), b"v": _encode(event)})
        try:
            await pipe.execute()
        except RedisError as err:
            raise Unavailable(f"redis streams: publish failed: {err}") from err

    def consumer(self, group: str, member: str) -> RedisStreamsConsumer[StoredEvent]:
        return RedisStreamsConsumer(
            self._url, self._streams, group, member, self._claim_idle_ms, _stored_event
        )

    async def close(self) -> None:
        await self._r.aclose()


class RedisStreamsConsumer(Generic[T]):
    def __init__(
        self,
        url: str,
        streams: list[str],
        group: str,
        member: str,
        claim_idle_ms: int,
        decode: EntryDecoder[T],
    ) -> None:
        self._decode = decode
        self._claim_idle_ms = claim_idle_ms
        self._r: Any = aioredis.Redis.from_url(url, decode_responses=False)
        self._streams = streams
        self._group = group
        self._member = member
        self._ready = False
        self._backlog = True  # first read our own unacknowledged entries
        self._next = 0
        self._unacked: dict[str, list[bytes]] = {}

    async def _create_groups(self) -> None:
        for stream in self._streams:
            try:
                await self._r.xgroup_create(stream, self._group, id="0", mkstream=True)
            except ResponseError as err:
                if "BUSYGROUP" not in str(err):
                    raise
        self._ready = True

    async def poll(self, max_records: int, timeout_ms: int) -> list[T]:
        try:
            if not self._ready:
                await self._create_groups()
            out: list[T] = []
            start_id = "0" if self._backlog else ">"
            # Round-robin over the partition streams, one single-slot command each.
            for i in range(len(self._streams)):
                stream = self._streams[(self._next + i) % len(self._streams)]
                reply = await self._r.xreadgroup(
                    self._group, self._member, {stream: start_id}, count=max_records - len(out)
                )
                for _, entries in reply or []:
                    for entry_id, fields in entries:
                        if not fields:  # acknowledged meanwhile
                            continue
                        self._unacked.setdefault(stream, []).append(entry_id)
                        out.append(self._decode(stream, entry_id, fields))
                if len(out) >= max_records:
                    break
            self._next = (self._next + 1) % len(self._streams)
            self._backlog = self._backlog and bool(out)  # until our backlog is drained
            if not out:
                out = await self._claim_abandoned(max_records)
        except RedisError as err:
            raise Unavailable(f"redis streams: read failed: {err}") from err
        if not out:
            await asyncio.sleep(timeout_ms / 1000)
        return out

    async def _claim_abandoned(self, max_records: int) -> list[T]:
        out: list[T] = []
        for stream in self._streams:
            reply = await self._r.xautoclaim(
                stream,
                self._group,
                self._member,
                min_idle_time=self._claim_idle_ms,
                start_id="0-0",
                count=max_records - len(out),
            )
            for entry_id, fields in reply[1]:
                if fields:
                    self._unacked.setdefault(stream, []).append(entry_id)
                    out.append(self._decode(stream, entry_id, fields))
            if len(out) >= max_records:
                break
        return out

    async def commit(self) -> None:
        try:
            for stream, ids in self._unacked.items():
                if ids:
                    await self._r.xack(stream, self._group, *ids)
        except RedisError as err:
            raise Unavailable(f"redis streams: ack failed: {err}") from err
        self._unacked = {}

    async def close(self) -> None:
        await self._r.aclose()
