"""AuditLog on an embedded DuckDB file (the default `embedded` backend)."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec

from netcx.adapters.storage._duckdb import connect
from netcx.domain.privacy import AuditRecord

_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS audit_seq;
CREATE TABLE IF NOT EXISTS audit_records (
    seq BIGINT PRIMARY KEY DEFAULT nextval('audit_seq'),
    at_ms BIGINT NOT NULL,
    subject VARCHAR NOT NULL,
    record BLOB NOT NULL
);
"""


class DuckDBAuditLog:
    def __init__(self, path: Path) -> None:
        self._con = connect(path, _SCHEMA)
        self._lock = threading.Lock()
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(AuditRecord).decode

    def close(self) -> None:
        self._con.close()

    def append(self, record: AuditRecord) -> None:
        with self._lock:
            self._con.execute(
                "INSERT INTO audit_records (at_ms, subject, record) VALUES (?, ?, ?)",
                [record.at_ms, record.subject, self._encode(record)],
            )

    def read(
        self, subject: str | None = None, since_ms: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        with self._lock:
            rows = self._con.execute(
                "SELECT record FROM audit_records WHERE at_ms >= ? "
                "AND (? IS NULL OR subject = ?) ORDER BY at_ms, seq LIMIT ?",
                [since_ms, subject, subject, limit],
            ).fetchall()
        return [self._decode(r[0]) for r in rows]

    def erase_subject(self, subject: str) -> int:
        with self._lock:
            rows = self._con.execute(
                "DELETE FROM audit_records WHERE subject = ? RETURNING seq", [subject]
            ).fetchall()
        return len(rows)

    def purge(self, before_ms: int) -> int:
        with self._lock:
            rows = self._con.execute(
                "DELETE FROM audit_records WHERE at_ms < ? RETURNING seq", [before_ms]
            ).fetchall()
        return len(rows)
