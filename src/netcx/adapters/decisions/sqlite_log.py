"""SQLite DecisionLog: every decision in an embedded WAL file that every process shares.

`netcx serve --workers N` and the CLI open the same file (`storage.data_dir/decisions.sqlite`).
The request path only indexes the decision in memory and queues it; every
`flush_interval_s` a background thread inserts the queue in one transaction. A crash loses
at most the last interval.

Reads (contacts for frequency caps, SRM units, get) answer from an in-memory index that is
first brought up to date with the rows other processes committed: the reader asks SQLite's
`data_version` (no table access) and only when it changed reads the other writers' rows
past the last seen `seq`. Contacts, on the decide path, look at most every
`catch_up_interval_s` (10 ms; the check costs ~6 µs). Caps and SRM are therefore per
account across workers, up to the other worker's flush interval.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from importlib import resources
from pathlib import Path

import msgspec

from netcx.adapters.decisions.indexed_log import IndexedDecisionLog, Records
from netcx.adapters.storage._sqlite import SqliteFile
from netcx.domain.decisions.engine import Decision
from netcx.errors import Unavailable

log = logging.getLogger("netcx.decisions")

# The decision tables are defined once, in the PostgreSQL migrations; SQLite gets them in its
# dialect (an INTEGER PRIMARY KEY AUTOINCREMENT is SQLite's commit-order sequence, and its
# default collation is already byte order).
_TABLES = ("0004_decisions.sql", "0005_decision_erasures.sql")
_TO_SQLITE = (
    ("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS "),
    ("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS "),
    ("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    (' COLLATE "C"', ""),
    (" BIGINT ", " INTEGER "),
    (" BOOLEAN ", " INTEGER "),
    (" JSONB ", " TEXT "),
)


def _sqlite_schema() -> str:
    migrations = resources.files("netcx.adapters.storage") / "postgres_migrations"
    sql = "\n".join((migrations / name).read_text(encoding="utf-8") for name in _TABLES)
    for postgres, sqlite in _TO_SQLITE:
        sql = sql.replace(postgres, sqlite)
    return sql


_SCHEMA = _sqlite_schema()
_INSERT = "INSERT OR IGNORE INTO decisions VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_ALL = "SELECT seq, record FROM decisions ORDER BY seq"

_Row = tuple[
    str, int, str, str, str | None, str | None, str | None, str, str, bool, bool, bool, str, str
]


def _row(d: Decision, writer: str) -> _Row:
    return (
        d.decision_id,
        d.at_ms,
        d.channel,
        d.recognition.value,
        d.account_id,
        d.session_id,
        d.visitor_id,
        d.intent,
        ",".join(c.experience_id for c in d.chosen),
        d.universal_holdout,
        d.holdout,
        bool(d.shown),
        msgspec.json.encode(d).decode(),
        writer,
    )


class SqliteDecisionLog(IndexedDecisionLog):
    _write_errors = (sqlite3.Error, Unavailable)

    def __init__(
        self, path: Path, flush_interval_s: float = 0.1, catch_up_interval_s: float = 0.01
    ) -> None:
        # Two connections: the writer thread's transactions never hold up a reader.
        self._writer_db = SqliteFile(path, _SCHEMA)
        self._reader_db = SqliteFile(path, _SCHEMA)
        self._data_version: int | None = None
        self._catch_up_interval_s = catch_up_interval_s
        self._looked_at = float("-inf")
        super().__init__(flush_interval_s, "decision-log")

    def _catch_up_for_contacts(self) -> None:
        self._catch_up(self._catch_up_interval_s)

    def _catch_up(self, at_most_every_s: float = 0.0) -> None:
        """Index the rows other processes committed since the last look (ours are indexed
        at append). The hot path (contacts) looks at most every `catch_up_interval_s`."""
        now = time.monotonic()
        if now - self._looked_at < at_most_every_s:
            return
        with self._read_lock, self._reader_db.reading() as con:
            self._looked_at = now
            try:
                (version,) = con.execute("PRAGMA data_version").fetchone()
                if version == self._data_version:
                    return
                (erasure,) = con.execute(
                    "SELECT coalesce(max(seq), 0) FROM decision_erasures"
                ).fetchone()
                if erasure != self._seen_erasure:  # another process erased a subject
                    self._reindex(erasure, lambda: con.execute(_ALL).fetchall())
                # Writers commit one at a time, so every row up to the highest committed
                # seq is in; the scan skips our own rows inside SQLite.
                (top,) = con.execute("SELECT coalesce(max(seq), 0) FROM decisions").fetchone()
                rows = con.execute(
                    "SELECT record FROM decisions "
                    "WHERE seq > ? AND seq <= ? AND writer <> ? ORDER BY seq",
                    (self._seen_seq, top, self._writer_id),
                ).fetchall()
            except sqlite3.Error as err:  # e.g. the file vanished; answer from the index
                log.warning("decision log catch-up failed: %s", err)
                return
            self._data_version = version
            self._seen_seq = top
            self._index_new(record for (record,) in rows)

    def _all_records(self) -> Records:
        with self._reader_db.reading() as con:
            return con.execute(_ALL).fetchall()

    def _delete(self, decision_ids: list[str]) -> int:
        with self._writer_db.erasing() as con:
            erased = con.execute(
                "DELETE FROM decisions WHERE decision_id IN (SELECT value FROM json_each(?))",
                (json.dumps(decision_ids),),
            ).rowcount
            if erased:
                con.execute("INSERT INTO decision_erasures DEFAULT VALUES")
        return int(erased)

    def _write(self, batch: list[Decision]) -> None:
        with self._writer_db.transaction() as con:
            con.executemany(_INSERT, [_row(d, self._writer_id) for d in batch])

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Read the log with SQL (audit, reports); flushes first."""
        self.flush()
        with self._reader_db.reading() as con:
            return con.execute(sql, params).fetchall()

    def _sync_round(self) -> None:
        self.flush()

    def _close_store(self) -> None:
        self._writer_db.close()
        self._reader_db.close()
