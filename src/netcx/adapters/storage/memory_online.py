"""In-memory online state (tests, one process): resolved events once per event key."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from netcx.domain.resolution import Resolution


class MemoryResolvedEvents:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Resolution] = {}
        self._lock = threading.Lock()

    def record(self, results: Sequence[tuple[tuple[str, str], Resolution]]) -> int:
        new = 0
        with self._lock:
            for key, resolution in results:
                if key not in self._by_key:
                    self._by_key[key] = resolution
                    new += 1
        return new

    def get(self, key: tuple[str, str]) -> Resolution | None:
        with self._lock:
            return self._by_key.get(key)

    def count(self) -> int:
        with self._lock:
            return len(self._by_key)
