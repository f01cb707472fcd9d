"""Embedded IntentStateStore: encoded states in an SQLite WAL file every process shares.

`update` reads, changes and writes one subject inside `BEGIN IMMEDIATE`, so two workers
(or a worker and the CLI) updating the same subject never lose each other's change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from netcx.adapters.storage._sqlite import SqliteFile
from netcx.adapters.storage.intent_state_codec import decode_state, encode_state
from netcx.domain.intents.scoring import SubjectState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intent_state (
    subject_id TEXT PRIMARY KEY,
    state BLOB NOT NULL
) WITHOUT ROWID;
"""


class SqliteIntentStateStore:
    def __init__(self, path: Path) -> None:
        self._db = SqliteFile(path, _SCHEMA)

    def get_many(self, subject_ids: Sequence[str]) -> dict[str, SubjectState]:
        if not subject_ids:
            return {}
        ids = list(dict.fromkeys(subject_ids))
        with self._db.reading() as con:
            rows = con.execute(
                "SELECT subject_id, state FROM intent_state WHERE subject_id IN "
                "(SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            ).fetchall()
        return {sid: decode_state(blob) for sid, blob in rows}

    def update(
        self, subject_id: str, change: Callable[[SubjectState | None], SubjectState]
    ) -> SubjectState:
        with self._db.transaction() as con:
            row = con.execute(
                "SELECT state FROM intent_state WHERE subject_id = ?", (subject_id,)
            ).fetchone()
            new = change(decode_state(row[0]) if row else None)
            con.execute(
                "INSERT OR REPLACE INTO intent_state VALUES (?, ?)",
                (subject_id, encode_state(new)),
            )
            return new

    def delete(self, subject_id: str) -> bool:
        with self._db.transaction() as con:
            gone = con.execute("DELETE FROM intent_state WHERE subject_id = ?", (subject_id,))
            return gone.rowcount > 0

    def close(self) -> None:
        self._db.close()
