"""DuckDB DecisionLog: every decision in an embedded table, written behind a short buffer.

Reads (contacts for caps, SRM units) come from an in-memory index rebuilt from the table
at open, so deciding never waits for the database. A background thread writes the buffer
every `flush_interval_s` (and on close): a crash loses at most that much of the log.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa

from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.domain.decisions.context import Contact
from netcx.domain.decisions.engine import Decision

DDL = """
CREATE TABLE IF NOT EXISTS decisions (
    decision_id VARCHAR PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    channel VARCHAR NOT NULL,
    recognition VARCHAR NOT NULL,
    account_id VARCHAR,
    session_id VARCHAR,
    visitor_id VARCHAR,
    intent VARCHAR NOT NULL,
    experiences VARCHAR NOT NULL,   -- chosen experience ids, comma-separated
    universal_holdout BOOLEAN NOT NULL,
    holdout BOOLEAN NOT NULL,        -- logged as 'would have triggered'
    shown BOOLEAN NOT NULL,
    record VARCHAR NOT NULL          -- the whole Decision as JSON (audit)
)
"""
COLUMNS = pa.schema(
    [
        ("decision_id", pa.string()),
        ("at_ms", pa.int64()),
        ("channel", pa.string()),
        ("recognition", pa.string()),
        ("account_id", pa.string()),
        ("session_id", pa.string()),
        ("visitor_id", pa.string()),
        ("intent", pa.string()),
        ("experiences", pa.string()),
        ("universal_holdout", pa.bool_()),
        ("holdout", pa.bool_()),
        ("shown", pa.bool_()),
        ("record", pa.string()),
    ]
)


def _batch(decisions: list[Decision]) -> pa.Table:
    """One Arrow table per flush: DuckDB inserts it in one statement (executemany is slow)."""
    cols: dict[str, list[object]] = {name: [] for name in COLUMNS.names}
    for d in decisions:
        for name, value in zip(
            COLUMNS.names,
            (
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
            ),
            strict=True,
        ):
            cols[name].append(value)
    return pa.table(cols, schema=COLUMNS)


class DuckDBDecisionLog:
    def __init__(self, path: Path, flush_interval_s: float = 0.5) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = duckdb.connect(str(path))
        self._db.execute(DDL)
        self._index = MemoryDecisionLog()
        decoder = msgspec.json.Decoder(Decision)
        for (record,) in self._db.execute("SELECT record FROM decisions ORDER BY at_ms").fetchall():
            self._index.append(decoder.decode(record))
        self._buffer: list[Decision] = []
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._stop = threading.Event()
        self._interval_s = flush_interval_s
        self._writer = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._writer.start()

    def append(self, decision: Decision) -> None:
        self._index.append(decision)
        with self._lock:
            self._buffer.append(decision)

    def get(self, decision_id: str) -> Decision | None:
        return self._index.get(decision_id)

    def contacts(self, account_id: str, since_ms: int) -> list[Contact]:
        return self._index.contacts(account_id, since_ms)

    def exposure_units(self) -> dict[tuple[str, str], int]:
        return self._index.exposure_units()

    def flush(self) -> None:
        """Write the buffer now."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if batch:
            with self._db_lock:
                self._db.register("batch", _batch(batch))
                try:
                    self._db.execute("INSERT OR IGNORE INTO decisions SELECT * FROM batch")
                finally:
                    self._db.unregister("batch")

    def query(self, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
        """Read the log with SQL (audit, reports); flushes first."""
        self.flush()
        with self._db_lock:
            return self._db.execute(sql, params or []).fetchall()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._writer.join(timeout=5)
        self.flush()
        with self._db_lock:
            self._db.close()
