"""In-memory AuditLog: the fake for tests and single-process use."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from netcx.domain.privacy import AuditRecord


class MemoryAuditLog:
    def __init__(self) -> None:
        self._records: list[AuditRecord] = []
        self._lock = threading.Lock()

    def append(self, records: Sequence[AuditRecord]) -> None:
        with self._lock:
            self._records.extend(records)

    def read(
        self, subject: str | None = None, since_ms: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        with self._lock:
            rows = [
                r
                for r in self._records
                if r.at_ms >= since_ms and (subject is None or r.subject == subject)
            ]
        # Stable sort: records with the same time keep the order they were appended in.
        return sorted(rows, key=lambda r: r.at_ms)[:limit]

    def erase_subject(self, subject: str) -> int:
        with self._lock:
            before = len(self._records)
            self._records = [r for r in self._records if r.subject != subject]
            return before - len(self._records)

    def purge(self, before_ms: int) -> int:
        with self._lock:
            before = len(self._records)
            self._records = [r for r in self._records if r.at_ms >= before_ms]
            return before - len(self._records)
