"""DuckDB DecisionLog: every decision in an embedded table, for audit and measurement.

The request path only encodes the decision as one JSON line into a buffer; every
`flush_interval_s` (0.5 s: ingesting ~1000 rows at once costs a third of the CPU per row
of 200-row batches) a background thread writes the buffer to a segment file and has DuckDB
ingest it with `read_json`, so the column work happens inside DuckDB without holding the
interpreter lock that decisions need. A crash loses at most the last interval; segments
written but not yet ingested are ingested at the next open. Reads (contacts for caps, SRM
units) come from an in-memory index rebuilt from the table at open, so deciding never waits
for the database.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb
import msgspec

from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.adapters.exit import close_at_exit
from netcx.domain.decisions.context import Contact
from netcx.domain.decisions.engine import Decision

log = logging.getLogger("netcx.decisions")

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
# The file name is a path we generate (never input); read_json takes no parameter for it.
INGEST = """
INSERT OR IGNORE INTO decisions
SELECT decision_id, at_ms, channel, recognition, account_id, session_id, visitor_id, intent,
       experiences, universal_holdout, holdout, shown, CAST(record AS VARCHAR)
FROM read_json('{path}', format = 'newline_delimited', columns = {{
    decision_id: 'VARCHAR', at_ms: 'BIGINT', channel: 'VARCHAR', recognition: 'VARCHAR',
    account_id: 'VARCHAR', session_id: 'VARCHAR', visitor_id: 'VARCHAR', intent: 'VARCHAR',
    experiences: 'VARCHAR', universal_holdout: 'BOOLEAN', holdout: 'BOOLEAN',
    shown: 'BOOLEAN', record: 'JSON'}})
"""


class _Row(msgspec.Struct, gc=False):
    """One log row as a JSON line."""

    decision_id: str
    at_ms: int
    channel: str
    recognition: str
    account_id: str | None
    session_id: str | None
    visitor_id: str | None
    intent: str
    experiences: str
    universal_holdout: bool
    holdout: bool
    shown: bool
    record: Decision


def _line(d: Decision, encode: Callable[[object], bytes] = msgspec.json.encode) -> bytes:
    row = _Row(
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
        d,
    )
    return encode(row) + b"\n"


class DuckDBDecisionLog:
    def __init__(self, path: Path, flush_interval_s: float = 0.5) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._segments = path.with_name(path.name + ".segments")
        self._segments.mkdir(exist_ok=True)
        self._db = duckdb.connect(str(path))
        self._db.execute(DDL)
        self._db_lock = threading.Lock()
        for leftover in sorted(self._segments.glob("*.ndjson")):
            self._ingest(leftover)  # written before a crash
        self._index = MemoryDecisionLog()
        decoder = msgspec.json.Decoder(Decision)
        for (record,) in self._db.execute("SELECT record FROM decisions ORDER BY at_ms").fetchall():
            self._index.append(decoder.decode(record))
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._buffer: list[bytes] = []
        self._stop = threading.Event()
        self._closed = False
        self._interval_s = flush_interval_s
        self._writer = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._writer.start()
        close_at_exit(self.close)

    def append(self, decision: Decision) -> None:
        self._index.append(decision)
        line = _line(decision)
        with self._lock:
            self._buffer.append(line)

    def get(self, decision_id: str) -> Decision | None:
        return self._index.get(decision_id)

    def contacts(self, account_id: str, since_ms: int) -> list[Contact]:
        return self._index.contacts(account_id, since_ms)

    def exposure_units(self) -> dict[tuple[str, str], int]:
        return self._index.exposure_units()

    def flush(self) -> None:
        """Move everything appended so far into the table."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return
        segment = self._segments / f"{os.getpid()}-{next(self._seq):09d}.ndjson"
        segment.write_bytes(b"".join(batch))
        self._ingest(segment)

    def _ingest(self, segment: Path) -> None:
        if segment.stat().st_size:
            with self._db_lock:
                self._db.execute(INGEST.format(path=str(segment).replace("'", "''")))
        segment.unlink()  # only once its rows are in the table

    def query(self, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
        """Read the log with SQL (audit, reports); flushes first."""
        self.flush()
        with self._db_lock:
            return self._db.execute(sql, params or []).fetchall()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.flush()
            except duckdb.Error:  # the segment stays on disk and is ingested later
                log.exception("decision log ingest failed; the segment is kept")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._writer.join(timeout=5)
        self.flush()
        with self._db_lock:
            self._db.close()
