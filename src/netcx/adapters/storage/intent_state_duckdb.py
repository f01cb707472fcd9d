"""Embedded IntentStateStore: one DuckDB table of encoded states (a file, or in memory)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb

from netcx.adapters.storage.intent_state_codec import decode_state, encode_state
from netcx.domain.intents.scoring import SubjectState
from netcx.errors import Unavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intent_state (
    subject_id VARCHAR PRIMARY KEY,
    state BLOB NOT NULL
)
"""


class DuckDBIntentStateStore:
    """States survive restarts when `path` is a file. One process owns the file (DuckDB
    allows one writer), so states read or written once are kept in memory and only writes
    go to the file; it is opened on first use (a CLI command that never scores does not
    lock it)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._cache: dict[str, SubjectState] = {}

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            target = ":memory:"
            if self._path is not None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                target = str(self._path)
            try:
                con = duckdb.connect(target)
                con.execute(_SCHEMA)
            except duckdb.Error as err:
                raise Unavailable(f"intent state store {target}: {err}") from err
            self._connection = con
        return self._connection

    def get_many(self, subject_ids: Sequence[str]) -> dict[str, SubjectState]:
        with self._lock:
            missing = [s for s in subject_ids if s not in self._cache]
            if missing:
                rows = self._con.execute(
                    "SELECT subject_id, state FROM intent_state WHERE subject_id IN "
                    "(SELECT unnest(?::VARCHAR[]))",
                    [missing],
                ).fetchall()
                for sid, blob in rows:
                    self._cache[sid] = decode_state(blob)
            cache = self._cache
            return {s: cache[s] for s in subject_ids if s in cache}

    def update(
        self, subject_id: str, change: Callable[[SubjectState | None], SubjectState]
    ) -> SubjectState:
        with self._lock:
            current = self._cache.get(subject_id)
            if current is None:
                row = self._con.execute(
                    "SELECT state FROM intent_state WHERE subject_id = ?", [subject_id]
                ).fetchone()
                current = decode_state(row[0]) if row else None
            new = change(current)
            self._con.execute(
                "INSERT OR REPLACE INTO intent_state VALUES (?, ?)",
                [subject_id, encode_state(new)],
            )
            self._cache[subject_id] = new
            return new

    def delete(self, subject_id: str) -> bool:
        with self._lock:
            self._cache.pop(subject_id, None)
            gone = self._con.execute(
                "DELETE FROM intent_state WHERE subject_id = ? RETURNING subject_id",
                [subject_id],
            ).fetchall()
        return bool(gone)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._cache.clear()
