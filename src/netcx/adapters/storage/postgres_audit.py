"""AuditLog on PostgreSQL (durable, shared by every netcx instance)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from netcx.adapters.storage._postgres import Conn, Postgres
from netcx.domain.privacy import AuditRecord


class PostgresAuditLog:
    def __init__(self, db: Postgres) -> None:
        self._db = db
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(AuditRecord).decode

    def append(self, records: Sequence[AuditRecord]) -> None:
        # Row ids fixed before retrying, so a lost acknowledgement lands each record once.
        rows = [(uuid.uuid4(), r.at_ms, r.subject, self._encode(r)) for r in records]
        if not rows:
            return

        def write(conn: Conn) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO audit_records (id, at_ms, subject, record) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    rows,
                )

        self._db.run("audit_append", write)

    def read(
        self, subject: str | None = None, since_ms: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        def read(conn: Conn) -> list[tuple[Any, ...]]:
            if subject is None:
                return conn.execute(
                    "SELECT record FROM audit_records WHERE at_ms >= %s "
                    "ORDER BY at_ms, seq LIMIT %s",
                    [since_ms, limit],
                ).fetchall()
            return conn.execute(
                "SELECT record FROM audit_records WHERE subject = %s AND at_ms >= %s "
                "ORDER BY at_ms, seq LIMIT %s",
                [subject, since_ms, limit],
            ).fetchall()

        return [self._decode(bytes(r[0])) for r in self._db.run("audit_read", read)]

    def erase_subject(self, subject: str) -> int:
        return self._db.run(
            "audit_erase",
            lambda conn: (
                conn.execute("DELETE FROM audit_records WHERE subject = %s", [subject]).rowcount
            ),
        )

    def purge(self, before_ms: int) -> int:
        return self._db.run(
            "audit_purge",
            lambda conn: (
                conn.execute("DELETE FROM audit_records WHERE at_ms < %s", [before_ms]).rowcount
            ),
        )
