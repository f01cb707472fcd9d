"""Key naming for the Redis/Valkey storage adapters (Cluster-safe: one hash tag per key)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

import msgspec
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from netcx.errors import Unavailable

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def key(prefix: str, tag: str, name: str) -> str:
    """`prefix:{tag}:name`: every key of one tag lands in the same cluster slot, so the
    commands that touch several keys of one tag stay single-slot."""
    return f"{prefix}:{{{tag}}}:{name}"


def client(url: str) -> Redis:
    """A client that returns bytes (values are msgpack)."""
    return Redis.from_url(url, decode_responses=False)


def unavailable_when_down(method: Callable[P, R]) -> Callable[P, R]:
    """An unreachable or timing-out Redis becomes `Unavailable` (HTTP 503: retry)."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as err:
            raise Unavailable(f"redis unavailable: {err}") from err

    return call


class PerSubjectStore(Generic[T]):
    """One key per subject (`prefix:{<letter>:<subject>}:<kind>`, msgpack `T` values) and a
    set of subjects (`prefix:{<kind>}:subjects`) for reads across subjects and purges."""

    def __init__(self, client: Redis, prefix: str, kind: str, letter: str, item: type[T]) -> None:
        # redis-py types replies as unions over decode modes; this client returns bytes.
        self._r: Any = client
        self._prefix = prefix
        self._kind = kind
        self._letter = letter
        self._subjects = key(prefix, kind, "subjects")
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode: Callable[[bytes], T] = msgspec.msgpack.Decoder(item).decode

    def _key(self, subject: str) -> str:
        return key(self._prefix, f"{self._letter}:{subject}", self._kind)

    def _all_subjects(self) -> list[str]:
        return [s.decode() for s in self._r.sscan_iter(self._subjects, count=500)]

    def _erase(self, subject: str, length_command: str) -> int:
        """Delete the subject's key and forget the subject; how many items it held."""
        pipe = self._r.pipeline(transaction=False)
        getattr(pipe, length_command)(self._key(subject))
        pipe.delete(self._key(subject))
        pipe.srem(self._subjects, subject)
        n, _, _ = pipe.execute()
        return int(n)
