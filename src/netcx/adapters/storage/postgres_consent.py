"""ConsentLedger on PostgreSQL (durable, shared by every netcx instance)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from netcx.adapters.storage._postgres import Conn, Postgres
from netcx.domain.consent import ConsentDecision, Purpose

# The decision in force per (subject, purpose): latest at_ms, ties to the one recorded last.
_PURGE = """
DELETE FROM consent_decisions
WHERE at_ms < %s
  AND seq NOT IN (
    SELECT DISTINCT ON (subject, purpose) seq FROM consent_decisions
    ORDER BY subject, purpose, at_ms DESC, seq DESC)
"""


class PostgresConsentLedger:
    def __init__(self, db: Postgres) -> None:
        self._db = db

    def append(self, decision: ConsentDecision) -> None:
        d = decision
        row_id = uuid.uuid4()  # fixed before retrying, so a lost acknowledgement lands once

        def write(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO consent_decisions "
                "(id, subject, purpose, granted, at_ms, source, text_version) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                [row_id, d.subject, d.purpose.value, d.granted, d.at_ms, d.source, d.text_version],
            )

        self._db.run("consent_append", write)

    def history(self, subject: str) -> list[ConsentDecision]:
        return self.histories([subject])[subject]

    def histories(self, subjects: Sequence[str]) -> dict[str, list[ConsentDecision]]:
        """`history` for each subject, in one query (one round trip)."""
        wanted = list(dict.fromkeys(subjects))
        if not wanted:
            return {}

        def read(conn: Conn) -> list[tuple[Any, ...]]:
            return conn.execute(
                "SELECT subject, purpose, granted, at_ms, source, text_version "
                "FROM consent_decisions WHERE subject = ANY(%s) ORDER BY seq",
                [wanted],
            ).fetchall()

        found: dict[str, list[ConsentDecision]] = {s: [] for s in wanted}
        for r in self._db.run("consent_history", read):
            found[str(r[0])].append(
                ConsentDecision(
                    str(r[0]), Purpose(r[1]), bool(r[2]), int(str(r[3])), str(r[4]), str(r[5])
                )
            )
        return found

    def erase_subject(self, subject: str) -> int:
        def erase(conn: Conn) -> int:
            return conn.execute(
                "DELETE FROM consent_decisions WHERE subject = %s", [subject]
            ).rowcount

        return self._db.run("consent_erase", erase)

    def purge(self, before_ms: int) -> int:
        return self._db.run(
            "consent_purge", lambda conn: conn.execute(_PURGE, [before_ms]).rowcount
        )
