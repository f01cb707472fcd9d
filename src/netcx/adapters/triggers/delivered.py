"""Ledgers of delivered triggers (DeliveredTriggers): Redis for workers on several hosts,
SQLite for the workers of one host, memory for tests."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from netcx.errors import Unavailable


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class MemoryDeliveredTriggers:
    def __init__(self) -> None:
        self._keys: set[str] = set()

    def delivered(self, key: str) -> bool:
        return key in self._keys

    def mark(self, key: str) -> None:
        self._keys.add(key)

    def close(self) -> None:
        """Nothing to release."""


class SqliteDeliveredTriggers:
    """`<data_dir>/triggers/delivered.sqlite`, shared by the worker processes of one host."""

    def __init__(self, path: Path, ttl_s: int, clock_ms: Callable[[], int] = _now_ms) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ttl_ms = ttl_s * 1000
        self._clock_ms = clock_ms
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A mark lost to a power cut costs one repeat the receiver drops by its key.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS delivered (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)"
        )
        self._db.execute("DELETE FROM delivered WHERE at_ms < ?", (clock_ms() - self._ttl_ms,))

    def delivered(self, key: str) -> bool:
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT 1 FROM delivered WHERE key = ? AND at_ms >= ?",
                    (key, self._clock_ms() - self._ttl_ms),
                ).fetchone()
        except sqlite3.Error as err:
            raise Unavailable(f"sqlite: delivered-trigger ledger: {err}") from err
        return row is not None

    def mark(self, key: str) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO delivered (key, at_ms) VALUES (?, ?)",
                    (key, self._clock_ms()),
                )
        except sqlite3.Error as err:
            raise Unavailable(f"sqlite: delivered-trigger ledger: {err}") from err

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisDeliveredTriggers:
    """One key per trigger, `<prefix>:trigger:{<key>}:delivered`, expiring after `ttl_s`."""

    def __init__(self, url: str, prefix: str, ttl_s: int, timeout_s: float = 2.0) -> None:
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._r: Any = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    def _key(self, key: str) -> str:
        return f"{self._prefix}:trigger:{{{key}}}:delivered"

    def delivered(self, key: str) -> bool:
        try:
            return bool(self._r.exists(self._key(key)))
        except redis.RedisError as err:
            raise Unavailable(f"redis: delivered-trigger ledger: {err}") from err

    def mark(self, key: str) -> None:
        try:
            self._r.set(self._key(key), b"1", ex=self._ttl_s)
        except redis.RedisError as err:
            raise Unavailable(f"redis: delivered-trigger ledger: {err}") from err

    def close(self) -> None:
        self._r.close()
