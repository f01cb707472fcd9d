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
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.adapters.exit import close_at_exit
from netcx.adapters.storage._sqlite import SqliteFile
from netcx.domain.decisions.context import Contact
from netcx.domain.decisions.engine import Decision
from netcx.errors import Unavailable

log = logging.getLogger("netcx.decisions")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- commit order: what a reader has caught up to
    decision_id TEXT NOT NULL UNIQUE,
    at_ms INTEGER NOT NULL,
    channel TEXT NOT NULL,
    recognition TEXT NOT NULL,
    account_id TEXT,
    session_id TEXT,
    visitor_id TEXT,
    intent TEXT NOT NULL,
    experiences TEXT NOT NULL,        -- chosen experience ids, comma-separated
    universal_holdout INTEGER NOT NULL,
    holdout INTEGER NOT NULL,         -- logged as 'would have triggered'
    shown INTEGER NOT NULL,
    record TEXT NOT NULL,             -- the whole Decision as JSON (audit)
    writer TEXT NOT NULL              -- the writing process's random id (catch-up skips its own)
);
CREATE INDEX IF NOT EXISTS decisions_account ON decisions (account_id, at_ms);
-- one row per data-subject erasure: tells other processes to rebuild their index
CREATE TABLE IF NOT EXISTS decision_erasures (seq INTEGER PRIMARY KEY AUTOINCREMENT);
"""

_INSERT = "INSERT OR IGNORE INTO decisions VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

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


class SqliteDecisionLog:
    def __init__(
        self, path: Path, flush_interval_s: float = 0.1, catch_up_interval_s: float = 0.01
    ) -> None:
        # Two connections: the writer thread's transactions never hold up a reader.
        self._writer_db = SqliteFile(path, _SCHEMA)
        self._reader_db = SqliteFile(path, _SCHEMA)
        self._writer_id = os.urandom(8).hex()
        self._index = MemoryDecisionLog()
        self._decoder = msgspec.json.Decoder(Decision)
        self._read_lock = threading.Lock()
        self._seen_seq = 0
        self._seen_erasure = 0
        self._data_version: int | None = None
        self._catch_up_interval_s = catch_up_interval_s
        self._looked_at = float("-inf")
        self._catch_up()
        self._lock = threading.Lock()
        self._queue: list[Decision] = []
        self._stop = threading.Event()
        self._closed = False
        self._interval_s = flush_interval_s
        self._writer = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._writer.start()
        close_at_exit(self.close)

    def append(self, decision: Decision) -> None:
        self._index.append(decision)
        with self._lock:
            self._queue.append(decision)

    def get(self, decision_id: str) -> Decision | None:
        found = self._index.get(decision_id)
        if found is None:
            self._catch_up()
            found = self._index.get(decision_id)
        return found

    def contacts(self, account_id: str, since_ms: int) -> list[Contact]:
        self._catch_up(self._catch_up_interval_s)
        return self._index.contacts(account_id, since_ms)

    def exposure_units(self) -> dict[tuple[str, str], int]:
        self._catch_up()
        return self._index.exposure_units()

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
                    self._reindex(con, erasure)
                # Writers commit one at a time, so every row up to the highest committed
                # seq is in; the scan skips our own rows inside SQLite.
                (top,) = con.execute("SELECT coalesce(max(seq), 0) FROM decisions").fetchone()
                rows = con.execute(
                    "SELECT decision_id, record FROM decisions "
                    "WHERE seq > ? AND seq <= ? AND writer <> ? ORDER BY seq",
                    (self._seen_seq, top, self._writer_id),
                ).fetchall()
            except sqlite3.Error as err:  # e.g. the file vanished; answer from the index
                log.warning("decision log catch-up failed: %s", err)
                return
            self._data_version = version
            self._seen_seq = top
            for decision_id, record in rows:
                if self._index.get(decision_id) is None:
                    self._index.append(self._decoder.decode(record))

    def _reindex(self, con: sqlite3.Connection, erasure: int) -> None:
        """Rebuild the index from the file, plus our decisions not flushed yet (the queue is
        read first: one flushed meanwhile is then in both, and kept once)."""
        with self._lock:
            queued = list(self._queue)
        rows = con.execute("SELECT seq, record FROM decisions ORDER BY seq").fetchall()
        decisions = {d.decision_id: d for d in (self._decoder.decode(r) for _, r in rows)}
        for d in queued:
            decisions.setdefault(d.decision_id, d)
        self._index.reset(list(decisions.values()))
        self._seen_seq = rows[-1][0] if rows else 0
        self._seen_erasure = erasure

    def decisions_where(self, selected: Callable[[Decision], bool]) -> list[Decision]:
        """Every process's decisions that `selected` picks (a full scan: for erasure)."""
        rows = self.query("SELECT record FROM decisions ORDER BY seq")
        found = (self._decoder.decode(str(r)) for (r,) in rows)
        return [d for d in found if selected(d)]

    def erase_decisions(self, decision_ids: Sequence[str]) -> int:
        """Delete decisions (their contacts and exposure units go with them); other
        processes rebuild their index at their next look."""
        self.flush()
        with self._writer_db.erasing() as con:
            erased = con.execute(
                "DELETE FROM decisions WHERE decision_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(decision_ids)),),
            ).rowcount
            if erased:
                con.execute("INSERT INTO decision_erasures DEFAULT VALUES")
        self._index.erase_decisions(decision_ids)
        return int(erased)

    def flush(self) -> None:
        """Commit everything appended so far to the file."""
        with self._lock:
            batch, self._queue = self._queue, []
        if not batch:
            return
        try:
            with self._writer_db.transaction() as con:
                con.executemany(_INSERT, [_row(d, self._writer_id) for d in batch])
        except (sqlite3.Error, Unavailable):
            with self._lock:  # keep the batch for the next attempt, in order
                self._queue[:0] = batch
            raise

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Read the log with SQL (audit, reports); flushes first."""
        self.flush()
        with self._reader_db.reading() as con:
            return con.execute(sql, params).fetchall()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.flush()
            except (sqlite3.Error, Unavailable):  # the batch stays queued
                log.exception("decision log write failed; the decisions stay queued")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._writer.join(timeout=5)
        try:
            self.flush()
        finally:
            self._writer_db.close()
            self._reader_db.close()
