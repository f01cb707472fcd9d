"""In-memory TriggerSink: keeps what was submitted (tests, benchmarks, `sink: memory`)."""

from __future__ import annotations

import threading

from netcx.domain.decisions.triggers import Trigger


class MemoryTriggerSink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.triggers: list[Trigger] = []

    def submit(self, trigger: Trigger) -> None:
        with self._lock:
            self.triggers.append(trigger)

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release."""
