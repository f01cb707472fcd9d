"""In-process IntentStateStore: a dict behind a lock (one worker, or tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from netcx.domain.intents.scoring import SubjectState
from netcx.domain.privacy import export_intent_states, without_evidence_of


class MemoryIntentStateStore:
    name = "intent_state"

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

    def update_many(
        self, changes: Mapping[str, Callable[[SubjectState | None], SubjectState]]
    ) -> dict[str, SubjectState]:
        with self._lock:
            states = self._states
            new = {s: change(states.get(s)) for s, change in changes.items()}
            states.update(new)
            return new

    def delete(self, subject_id: str) -> bool:
        with self._lock:
            return self._states.pop(subject_id, None) is not None

    def export_subject(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        with self._lock:
            return export_intent_states(self._states.items(), set(subjects))

    def erase_subject(self, subjects: Sequence[str]) -> int:
        wanted = set(subjects)
        with self._lock:
            erased = sum(self._states.pop(s, None) is not None for s in wanted)
            for other, state in list(self._states.items()):
                cleaned = without_evidence_of(state, wanted)
                if cleaned is not None:
                    self._states[other] = cleaned
                    erased += 1
            return erased
