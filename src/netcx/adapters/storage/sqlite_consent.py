"""ConsentLedger on an embedded SQLite file (the default `embedded` store)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netcx.adapters.storage._sqlite import KeptRows, SqliteFile
from netcx.domain.consent import ConsentDecision, parse_purpose

_SCHEMA = """
CREATE TABLE IF NOT EXISTS consent_decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    text_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_subject ON consent_decisions (subject, seq);
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
"""


class SqliteConsentLedger:
    """Histories read or written are kept (up to `cache_subjects`) while no other
    connection commits to the file: the recognition follower reads the histories of every
    group's visitors, which nobody else changed in the meantime (another process's
    decision, an erasure or a purge, clears what is kept before the next read)."""

    def __init__(self, path: Path, cache_subjects: int = 8192) -> None:
        self._db = SqliteFile(path, _SCHEMA)
        self._kept: KeptRows[tuple[ConsentDecision, ...]] = KeptRows(self._db, cache_subjects)

    def close(self) -> None:
        self._db.close()

    def append(self, decision: ConsentDecision) -> None:
        d = decision
        with self._db.transaction() as con:
            con.execute(
                "INSERT INTO consent_decisions "
                "(subject, purpose, granted, at_ms, source, text_version) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (d.subject, d.purpose.value, d.granted, d.at_ms, d.source, d.text_version),
            )
            kept = self._kept.current(con)
            if d.subject in kept:  # the newest row of the subject's history
                kept[d.subject] += (d,)

    def history(self, subject: str) -> list[ConsentDecision]:
        with self._db.reading() as con:
            rows = con.execute(
                "SELECT subject, purpose, granted, at_ms, source, text_version "
                "FROM consent_decisions WHERE subject = ? ORDER BY seq",
                (subject,),
            ).fetchall()
        return [_decision(r) for r in rows]

    def histories(self, subjects: Sequence[str]) -> dict[str, list[ConsentDecision]]:
        """One query for all (a query per subject was a tenth of a visit's recognition)."""
        wanted = list(dict.fromkeys(subjects))
        if not wanted:
            return {}

        with self._db.reading() as con:

            def read(missing: list[str]) -> dict[str, tuple[ConsentDecision, ...]]:
                rows = con.execute(
                    "SELECT subject, purpose, granted, at_ms, source, text_version "
                    "FROM consent_decisions WHERE subject IN (SELECT value FROM json_each(?)) "
                    "ORDER BY subject, seq",
                    (json.dumps(missing),),
                ).fetchall()
                found: dict[str, list[ConsentDecision]] = {s: [] for s in missing}
                for r in rows:
                    found[r[0]].append(_decision(r))
                return {s: tuple(history) for s, history in found.items()}

            kept = self._kept.many(con, wanted, read)
        return {s: list(history) for s, history in kept.items()}

    def erase_subject(self, subject: str) -> int:
        with self._db.erasing() as con:
            self._kept.clear()
            return con.execute(
                "DELETE FROM consent_decisions WHERE subject = ?", (subject,)
            ).rowcount

    def purge(self, before_ms: int) -> int:
        with self._db.transaction() as con:
            self._kept.clear()
            return con.execute(_PURGE, (before_ms,)).rowcount


def _decision(row: tuple[Any, ...]) -> ConsentDecision:
    """A ledger row (subject, purpose, granted, at_ms, source, text_version) as a decision."""
    return ConsentDecision(row[0], parse_purpose(row[1]), bool(row[2]), row[3], row[4], row[5])
