"""ConsentLedger on an embedded DuckDB file (the default `embedded` backend)."""

from __future__ import annotations

import threading
from pathlib import Path

from netcx.adapters.storage._duckdb import connect
from netcx.domain.consent import ConsentDecision, Purpose

_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS consent_seq;
CREATE TABLE IF NOT EXISTS consent_decisions (
    seq BIGINT PRIMARY KEY DEFAULT nextval('consent_seq'),
    subject VARCHAR NOT NULL,
    purpose VARCHAR NOT NULL,
    granted BOOLEAN NOT NULL,
    at_ms BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    text_version VARCHAR NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_subject ON consent_decisions (subject);
"""

# The decision in force per (subject, purpose): latest at_ms, ties to the one recorded last.
_PURGE = """
DELETE FROM consent_decisions
WHERE at_ms < ?
  AND seq NOT IN (
    SELECT seq FROM (
      SELECT seq, row_number() OVER (
        PARTITION BY subject, purpose ORDER BY at_ms DESC, seq DESC) AS rn
      FROM consent_decisions)
    WHERE rn = 1)
RETURNING seq
"""


class DuckDBConsentLedger:
    def __init__(self, path: Path) -> None:
        self._con = connect(path, _SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._con.close()

    def append(self, decision: ConsentDecision) -> None:
        d = decision
        with self._lock:
            self._con.execute(
                "INSERT INTO consent_decisions "
                "(subject, purpose, granted, at_ms, source, text_version) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [d.subject, d.purpose.value, d.granted, d.at_ms, d.source, d.text_version],
            )

    def history(self, subject: str) -> list[ConsentDecision]:
        with self._lock:
            rows = self._con.execute(
                "SELECT subject, purpose, granted, at_ms, source, text_version "
                "FROM consent_decisions WHERE subject = ? ORDER BY seq",
                [subject],
            ).fetchall()
        return [ConsentDecision(r[0], Purpose(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def erase_subject(self, subject: str) -> int:
        with self._lock:
            rows = self._con.execute(
                "DELETE FROM consent_decisions WHERE subject = ? RETURNING seq", [subject]
            ).fetchall()
        return len(rows)

    def purge(self, before_ms: int) -> int:
        with self._lock:
            return len(self._con.execute(_PURGE, [before_ms]).fetchall())
