"""In-process IntentStateStore: a dict behind a lock (one worker, or tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from netcx.domain.intents.scoring import SubjectState


class MemoryIntentStateStore:
    def __init__(self) -> None:
        self._states: dict[str, SubjectState] = {}
        self._lock = threading.Lock()

    def get_many(self, subject_ids: Sequence[str]) -> dict[str, SubjectState]:
        states = self._states
        return {s: states[s] for s in subject_ids if s in states}

    def update(
        self, subject_id: str, change: Callable[[SubjectState | None], SubjectState]
    ) -> SubjectState:
        with self._lock:
            new = change(self._states.get(subject_id))
            self._states[subject_id] = new
            return new

    def delete(self, subject_id: str) -> bool:
        with self._lock:
            return self._states.pop(subject_id, None) is not None
