"""Online state on Redis/Valkey shared by every netcx worker: resolved events (stored once per
event key, with a counter) and the hot set of network bindings with a TTL.

Keys (Cluster-safe, one hash tag each, Valkey-compatible commands only):
- `<p>:{ev:<source>:<event_id>}:res` — an 8-byte writer token + msgpack Resolution,
  `SET NX GET EX` (Redis ≥ 7.0, Valkey): a redelivered event is neither stored nor counted
  twice, and a retry after a lost reply (part of the pipeline applied) recognises its own
  writes by the token and counts them once;
- `<p>:{counters}:<name>` — INCRBY counters (events resolved …);
- `<p>:{b:<ip>}:bindings` — hash of the bindings of one public address (field
  `<port_lo>-<port_hi>@<start_ms>`, msgpack binding), EXPIRE refreshed on every write.
A lost connection is `Unavailable`, so callers degrade instead of crashing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec
from redis import Redis
from redis.exceptions import RedisError

from netcx.adapters.storage._redis import key
from netcx.adapters.storage.static_bindings import StaticBinding
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.domain.resolution import Evidence, Resolution
from netcx.errors import Unavailable

_TOKEN = 8  # bytes of the writer token in front of a stored answer


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except RedisError as err:
        raise Unavailable(f"redis: {what} failed: {type(err).__name__}: {err}") from err


class RedisResolvedEvents:
    def __init__(self, client: Redis, prefix: str = "netcx", ttl_s: int = 7 * 86400) -> None:
        self._r: Any = client
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Resolution).decode
        self._token = os.urandom(_TOKEN)

    def _key(self, event_key: tuple[str, str]) -> str:
        return key(self._prefix, f"ev:{event_key[0]}:{event_key[1]}", "res")

    def _counter(self) -> str:
        return key(self._prefix, "counters", "events_resolved")

    def record(self, results: Sequence[tuple[tuple[str, str], Resolution]]) -> int:
        unique: dict[tuple[str, str], Resolution] = {}
        for event_key, resolution in results:
            unique.setdefault(event_key, resolution)
        if not unique:
            return 0
        token = self._token
        with _translated("record resolutions"):
            pipe = self._r.pipeline(transaction=False)
            for event_key, resolution in unique.items():
                value = token + self._encode(resolution)
                pipe.set(self._key(event_key), value, nx=True, ex=self._ttl_s, get=True)
            # None: stored now; our token: stored by this call's failed predecessor
            new = sum(1 for old in pipe.execute() if old is None or old[:_TOKEN] == token)
            if new:
                self._r.incrby(self._counter(), new)
        self._token = os.urandom(_TOKEN)  # only after success: a retry keeps the token
        return new

    def get(self, event_key: tuple[str, str]) -> Resolution | None:
        with _translated("read resolution"):
            blob = self._r.get(self._key(event_key))
        return None if blob is None else self._decode(blob[_TOKEN:])

    def count(self) -> int:
        with _translated("read counter"):
            return int(self._r.get(self._counter()) or 0)


class RedisBindingHotSet:
    """The recent network bindings every worker resolves against (a Resolver).

    Filled by whoever ingests RADIUS/CGNAT records (`put`), each address's bindings expire
    `ttl_s` after its last write; ids are pseudonymised before they are stored.
    """

    def __init__(
        self, client: Redis, pseudonymizer: Pseudonymizer, prefix: str = "netcx", ttl_s: int = 86400
    ) -> None:
        self._r: Any = client
        self._p = pseudonymizer
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(StaticBinding).decode

    def _key(self, ip: str) -> str:
        return key(self._prefix, f"b:{ip}", "bindings")

    def _pseudonymised(self, b: StaticBinding) -> StaticBinding:
        def pid(kind: IdKind, raw: str | None) -> str | None:
            return None if raw is None else self._p.pseudonym(kind, raw)

        return msgspec.structs.replace(
            b,
            line_id=pid(IdKind.LINE, b.line_id),
            subscriber_id=pid(IdKind.SUBSCRIBER, b.subscriber_id),
            household_id=pid(IdKind.HOUSEHOLD, b.household_id),
            account_id=pid(IdKind.ACCOUNT, b.account_id),
        )

    def put(self, bindings: Sequence[StaticBinding]) -> None:
        with _translated("store bindings"):
            pipe = self._r.pipeline(transaction=False)
            for b in bindings:
                k = self._key(b.ip)
                field = f"{b.port_lo}-{b.port_hi}@{b.start_ms}"
                pipe.hset(k, field, self._encode(self._pseudonymised(b)))
                pipe.expire(k, self._ttl_s)
            pipe.execute()

    def memory_usage(self, ip: str) -> int:
        """Bytes Redis uses for one address's bindings (MEMORY USAGE)."""
        with _translated("memory usage"):
            return int(self._r.memory_usage(self._key(ip), samples=0) or 0)

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        return self.resolve_many([(ip, port, at_ms)])[0]

    def resolve_many(self, queries: Sequence[tuple[str, int | None, int]]) -> list[Resolution]:
        """Every query's answer from one pipelined read of the addresses' bindings."""
        ips = list(dict.fromkeys(ip for ip, _, _ in queries))
        with _translated("read bindings"):
            pipe = self._r.pipeline(transaction=False)
            for ip in ips:
                pipe.hgetall(self._key(ip))
            held: dict[str, dict[bytes, bytes]] = dict(zip(ips, pipe.execute(), strict=True))
        return [self._answer(held[ip], port, at_ms) for ip, port, at_ms in queries]

    def _answer(self, held: dict[bytes, bytes], port: int | None, at_ms: int) -> Resolution:
        # Decode only the bindings of the port's block (and port-less ones), in field order.
        for field in sorted(f for f in held if _may_hold(f, port)):
            b = self._decode(held[field])
            if b.holds(port, at_ms):
                return Resolution(
                    level=b.level,
                    reason="hot_set",
                    confidence=b.confidence,
                    line_id=b.line_id,
                    subscriber_id=b.subscriber_id,
                    household_id=b.household_id,
                    account_id=b.account_id,
                    evidence=(Evidence(kind="hot_set", ref=field.decode()),),
                )
        return Resolution.unknown("no_binding")


def _may_hold(field: bytes, port: int | None) -> bool:
    """Whether the binding stored under `field` can hold `port`; `StaticBinding.holds`
    decides (time included) for those that can."""
    ports = _port_range(field)
    return ports is None or (port is not None and ports[0] <= port <= ports[1])


@functools.lru_cache(maxsize=1 << 16)  # the hot fields repeat from event to event
def _port_range(field: bytes) -> tuple[int, int] | None:
    """(port_lo, port_hi) from a field `<port_lo>-<port_hi>@<start_ms>`; None: port-less."""
    lo, _, rest = field.partition(b"-")
    if lo == b"None":
        return None
    hi = rest.partition(b"@")[0]
    return int(lo), int(lo) if hi == b"None" else int(hi)
