"""In-memory ConsentLedger: the fake for tests and single-process use."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from netcx.domain.consent import ConsentDecision, kept_after_purge


class MemoryConsentLedger:
    def __init__(self) -> None:
        self._by_subject: dict[str, list[ConsentDecision]] = {}
        self._lock = threading.Lock()

    def append(self, decision: ConsentDecision) -> None:
        with self._lock:
            self._by_subject.setdefault(decision.subject, []).append(decision)

    def history(self, subject: str) -> list[ConsentDecision]:
        with self._lock:
            return list(self._by_subject.get(subject, ()))

    def histories(self, subjects: Sequence[str]) -> dict[str, list[ConsentDecision]]:
        return {s: self.history(s) for s in subjects}

    def erase_subject(self, subject: str) -> int:
        with self._lock:
            return len(self._by_subject.pop(subject, ()))

    def purge(self, before_ms: int) -> int:
        with self._lock:
            removed = 0
            for subject, history in self._by_subject.items():
                kept = kept_after_purge(history, before_ms)
                removed += len(history) - len(kept)
                self._by_subject[subject] = kept
            return removed
