"""Key naming for the Redis/Valkey storage adapters (Cluster-safe: one hash tag per key)."""

from __future__ import annotations

from redis import Redis


def key(prefix: str, tag: str, name: str) -> str:
    """`prefix:{tag}:name`: every key of one tag lands in the same cluster slot, so the
    commands that touch several keys of one tag stay single-slot."""
    return f"{prefix}:{{{tag}}}:{name}"


def client(url: str) -> Redis:
    """A client that returns bytes (values are msgpack)."""
    return Redis.from_url(url, decode_responses=False)
