"""AuditLog on Redis/Valkey.

Layout: one stream per subject (`netcx:{a:<subject>}:audit`; records without a subject go
to the subject ""), and a set of subjects (`netcx:{audit}:subjects`) for reads across
subjects and retention purges. Writes touch the subject's own slot only, so they spread
over a cluster; reads of all subjects walk the set (an operator query, not a hot path).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from redis import Redis

from netcx.adapters.storage._redis import PerSubjectStore, unavailable_when_down
from netcx.domain.privacy import AuditRecord

_FIELD = b"r"


class RedisAuditLog(PerSubjectStore[AuditRecord]):
    def __init__(self, client: Redis, prefix: str = "netcx") -> None:
        super().__init__(client, prefix, "audit", "a", AuditRecord)

    @unavailable_when_down
    def append(self, records: Sequence[AuditRecord]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for record in records:
            pipe.xadd(self._key(record.subject), {_FIELD: self._encode(record)})
        if records:
            pipe.sadd(self._subjects, *{r.subject for r in records})
        pipe.execute()

    def _entries(self, subject: str) -> list[tuple[bytes, AuditRecord]]:
        return [
            (entry_id, self._decode(fields[_FIELD]))
            for entry_id, fields in self._r.xrange(self._key(subject))
        ]

    @unavailable_when_down
    def read(
        self, subject: str | None = None, since_ms: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        subjects = [subject] if subject is not None else self._all_subjects()
        rows: list[tuple[int, int, int, AuditRecord]] = []
        for n, s in enumerate(subjects):
            for i, (_, rec) in enumerate(self._entries(s)):
                if rec.at_ms >= since_ms:
                    rows.append((rec.at_ms, n, i, rec))
        return [r[3] for r in heapq.nsmallest(limit, rows, key=lambda r: (r[0], r[1], r[2]))]

    @unavailable_when_down
    def erase_subject(self, subject: str) -> int:
        return self._erase(subject, "xlen")

    @unavailable_when_down
    def purge(self, before_ms: int) -> int:
        removed = 0
        for subject in self._all_subjects():
            doomed = [eid for eid, rec in self._entries(subject) if rec.at_ms < before_ms]
            if doomed:
                removed += int(self._r.xdel(self._key(subject), *doomed))
        return removed
