"""AuditLog on an embedded SQLite file (the default `embedded` store).

Every recognition appends a record, so appends are the hot path: records are indexed by time
only, which appends to the b-tree's last page. An index on the subject (a pseudonym, random
order) dirtied one page per record and tripled the cost of an append (measured: 9 → 3.4 µs
of CPU per record, groups of 32); reading or erasing one subject's records (data-subject
requests: rare) scans the table instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from netcx.adapters.storage._sqlite import SqliteFile
from netcx.domain.privacy import AuditRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    subject TEXT NOT NULL,
    record BLOB NOT NULL
);
DROP INDEX IF EXISTS audit_subject;
CREATE INDEX IF NOT EXISTS audit_time ON audit_records (at_ms);
"""


class SqliteAuditLog:
    def __init__(self, path: Path) -> None:
        self._db = SqliteFile(path, _SCHEMA)
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(AuditRecord).decode

    def close(self) -> None:
        self._db.close()

    def append(self, records: Sequence[AuditRecord]) -> None:
        rows = [(r.at_ms, r.subject, self._encode(r)) for r in records]
        with self._db.transaction() as con:
            con.executemany(
                "INSERT INTO audit_records (at_ms, subject, record) VALUES (?, ?, ?)", rows
            )

    def read(
        self, subject: str | None = None, since_ms: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        with self._db.reading() as con:
            if subject is None:
                rows = con.execute(
                    "SELECT record FROM audit_records WHERE at_ms >= ? ORDER BY at_ms, seq LIMIT ?",
                    (since_ms, limit),
                ).fetchall()
            else:
                rows = con.execute(
                    "SELECT record FROM audit_records WHERE subject = ? AND at_ms >= ? "
                    "ORDER BY at_ms, seq LIMIT ?",
                    (subject, since_ms, limit),
                ).fetchall()
        return [self._decode(r[0]) for r in rows]

    def erase_subject(self, subject: str) -> int:
        with self._db.erasing() as con:
            return con.execute("DELETE FROM audit_records WHERE subject = ?", (subject,)).rowcount

    def purge(self, before_ms: int) -> int:
        with self._db.transaction() as con:
            return con.execute("DELETE FROM audit_records WHERE at_ms < ?", (before_ms,)).rowcount
