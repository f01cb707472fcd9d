"""Key naming for the Redis/Valkey storage adapters (Cluster-safe: one hash tag per key)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from netcx.errors import Unavailable

P = ParamSpec("P")
R = TypeVar("R")


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
