"""IdentityStore on Redis/Valkey (online state shared by every netcx instance).

Layout: one hash per node (`netcx:{n:<node>}:edges`, field = edge key, value = msgpack edge),
each edge written under both of its nodes, and one sorted set per edge source
(`netcx:{edges:<source>}:seen`, member = edge key, score = last seen) for retention purges.
Only single-key commands, so the same code runs on Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from redis import Redis

from netcx.adapters.storage._redis import key, unavailable_when_down
from netcx.domain.identity import Edge, EdgeSource

_BATCH = 500


class RedisIdentityStore:
    def __init__(self, client: Redis, prefix: str = "netcx") -> None:
        # redis-py types replies as unions over decode modes; this client returns bytes.
        self._r: Any = client
        self._prefix = prefix
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Edge).decode

    def _node(self, node: str) -> str:
        return key(self._prefix, f"n:{node}", "edges")

    def _seen(self, source: EdgeSource | str) -> str:
        return key(self._prefix, f"edges:{source}", "seen")

    @unavailable_when_down
    def put_edges(self, edges: Sequence[Edge]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for e in edges:
            blob = self._encode(e)
            pipe.hset(self._node(e.src), e.key, blob)
            pipe.hset(self._node(e.dst), e.key, blob)
            pipe.zadd(self._seen(e.source), {e.key: e.last_seen_ms})
        pipe.execute()

    @unavailable_when_down
    def edges_of(self, node: str) -> list[Edge]:
        held = self._r.hgetall(self._node(node))
        return [self._decode(held[k]) for k in sorted(held)]

    @unavailable_when_down
    def edges_of_many(self, nodes: Sequence[str]) -> dict[str, list[Edge]]:
        pipe = self._r.pipeline(transaction=False)
        for n in nodes:
            pipe.hgetall(self._node(n))
        return {
            n: [self._decode(held[k]) for k in sorted(held)]
            for n, held in zip(nodes, pipe.execute(), strict=True)
        }

    def _delete(self, edge_keys: Sequence[str]) -> int:
        pipe = self._r.pipeline(transaction=False)
        for k in edge_keys:
            src, dst, source = k.split("|")
            pipe.hdel(self._node(src), k)
            pipe.hdel(self._node(dst), k)
            pipe.zrem(self._seen(source), k)
        results = pipe.execute()
        # An edge counts once: by whether it was still under its src node.
        return sum(1 for i in range(0, len(results), 3) if results[i])

    @unavailable_when_down
    def erase_node(self, node: str) -> int:
        keys = [k.decode() for k in self._r.hkeys(self._node(node))]
        return self._delete(keys)

    @unavailable_when_down
    def purge(self, source: EdgeSource, last_seen_before_ms: int) -> int:
        removed = 0
        while True:
            batch = self._r.zrangebyscore(
                self._seen(source), "-inf", f"({last_seen_before_ms}", start=0, num=_BATCH
            )
            if not batch:
                return removed
            removed += self._delete([k.decode() for k in batch])
