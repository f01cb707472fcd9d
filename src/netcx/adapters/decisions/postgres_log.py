"""PostgreSQL DecisionLog: every decision in one table that every netcx instance shares.

The request path never waits for PostgreSQL: `append` indexes the decision in memory and
queues it, and `contacts` (caps, cooldowns on the decide path) answers from that index. One
background thread per process, every `sync_interval_s`:
- writes the queue in one transaction (`INSERT … ON CONFLICT (decision_id) DO NOTHING`,
  retried through `Postgres.run`, so a batch whose acknowledgement was lost lands once; a
  batch that fails for the whole retry budget stays queued, in order, for the next round);
- indexes the rows other instances committed past the last seen `seq`.
Writers insert under one advisory lock, so `seq` order is commit order and the catch-up
never skips a row. Caps and SRM units are therefore per account across instances, up to two
sync intervals late; a crash loses at most the last interval's decisions.

`get` of an unknown id and `exposure_units` (the SRM check) catch up first, on the caller's
thread: they are not on the decide path and raise `Unavailable` while the server is down.

Erasure (a data subject's decisions) deletes the rows and adds a `decision_erasures` row;
every instance rebuilds its index from the table when it sees a new one at its next catch-up.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

import msgspec

from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.adapters.exit import close_at_exit
from netcx.adapters.storage._postgres import Conn, Postgres
from netcx.domain.decisions.context import Contact
from netcx.domain.decisions.engine import Decision
from netcx.errors import Unavailable

log = logging.getLogger("netcx.decisions")

_WRITE_LOCK_ID = 0x6E637864  # "ncxd": one decision-log writer transaction at a time

# One statement per chunk of decisions, sent as one JSON array: the request thread shares the
# GIL with this writer, so the writer's Python work per decision is one C-level encode; the
# columns are derived in SQL (array order is insertion order, so seq follows append order).
_INSERT = """
INSERT INTO decisions (decision_id, at_ms, channel, recognition, account_id, session_id,
    visitor_id, intent, experiences, universal_holdout, holdout, shown, record, writer)
SELECT v->>'decision_id', (v->>'at_ms')::bigint, v->>'channel', v->>'recognition',
    v->>'account_id', v->>'session_id', v->>'visitor_id', v->>'intent',
    coalesce((SELECT string_agg(c->>'experience_id', ',' ORDER BY i)
              FROM jsonb_array_elements(v->'chosen') WITH ORDINALITY AS x(c, i)), ''),
    (v->>'universal_holdout')::boolean,
    jsonb_array_length(v->'chosen') > 0
        AND NOT jsonb_path_exists(v, '$.chosen[*] ? (@.held_out == false)'),
    jsonb_path_exists(v, '$.chosen[*] ? (@.held_out == false)'),
    v, %s
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(v, n)
ORDER BY n
ON CONFLICT (decision_id) DO NOTHING
"""
_CHUNK = 500

# One statement, so the top seq and the rows below it come from one snapshot.
# The latest erasure comes along: when it changed, the rows are ignored and the index rebuilt.
_CATCH_UP = (
    "WITH top AS (SELECT coalesce(max(seq), 0) AS top, "
    "(SELECT coalesce(max(seq), 0) FROM decision_erasures) AS erasure FROM decisions) "
    "SELECT top.top, top.erasure, d.record::text FROM top LEFT JOIN decisions d "
    "ON d.seq > %s AND d.seq <= top.top AND d.writer <> %s ORDER BY d.seq"
)

_encode = msgspec.json.Encoder().encode


class PostgresDecisionLog:
    """Owns `db` (closed with the log)."""

    def __init__(self, db: Postgres, sync_interval_s: float = 0.1) -> None:
        self._db = db
        self._writer_id = os.urandom(8).hex()
        self._index = MemoryDecisionLog()
        self._decode = msgspec.json.Decoder(Decision).decode
        self._read_lock = threading.Lock()
        self._seen_seq = 0
        self._seen_erasure = 0
        self._lock = threading.Lock()
        self._queue: list[Decision] = []
        self._catch_up()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._interval_s = sync_interval_s
        self._thread = threading.Thread(target=self._run, name="decision-log-pg", daemon=True)
        self._thread.start()
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
        return self._index.contacts(account_id, since_ms)

    def exposure_units(self) -> dict[tuple[str, str], int]:
        self._catch_up()
        return self._index.exposure_units()

    def pending(self) -> int:
        """Decisions appended but not yet committed to PostgreSQL."""
        with self._lock:
            return len(self._queue)

    def _catch_up(self) -> None:
        """Index the rows other instances committed since the last look (ours are indexed
        at append)."""
        with self._read_lock:
            seen = self._seen_seq
            rows = self._db.run(
                "decisions_catch_up",
                lambda conn: conn.execute(_CATCH_UP, [seen, self._writer_id]).fetchall(),
            )
            if not rows:
                return
            erasure = int(rows[0][1])
            if erasure != self._seen_erasure:  # some instance erased a subject
                self._reindex(erasure)
                return
            for _, _, record in rows:
                if record is None:
                    continue
                d = self._decode(record)
                if self._index.get(d.decision_id) is None:
                    self._index.append(d)
            self._seen_seq = int(rows[0][0])

    def _reindex(self, erasure: int) -> None:
        """Rebuild the index from the table, plus our decisions not written yet (the queue
        is read first: one written meanwhile is then in both, and kept once)."""
        with self._lock:
            queued = list(self._queue)
        rows = self._db.run(
            "decisions_reindex",
            lambda c: c.execute("SELECT seq, record::text FROM decisions ORDER BY seq").fetchall(),
        )
        decisions = {d.decision_id: d for d in (self._decode(r) for _, r in rows)}
        for d in queued:
            decisions.setdefault(d.decision_id, d)
        self._index.reset(list(decisions.values()))
        self._seen_seq = int(rows[-1][0]) if rows else 0
        self._seen_erasure = erasure

    def decisions_where(self, selected: Callable[[Decision], bool]) -> list[Decision]:
        """Every instance's decisions that `selected` picks (a full scan: for erasure)."""
        self.flush()
        rows = self._db.run(
            "decisions_scan",
            lambda c: c.execute("SELECT record::text FROM decisions ORDER BY seq").fetchall(),
        )
        found = (self._decode(r) for (r,) in rows)
        return [d for d in found if selected(d)]

    def erase_decisions(self, decision_ids: Sequence[str]) -> int:
        """Delete decisions (their contacts and exposure units go with them); other
        instances rebuild their index at their next catch-up."""
        self.flush()
        ids = list(decision_ids)

        def erase(conn: Conn) -> int:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITE_LOCK_ID])
            erased = conn.execute(
                "DELETE FROM decisions WHERE decision_id = ANY(%s)", [ids]
            ).rowcount
            if erased:
                conn.execute("INSERT INTO decision_erasures DEFAULT VALUES")
            return int(erased)

        erased = self._db.run("decisions_erase", erase)
        self._index.erase_decisions(ids)
        return erased

    def flush(self) -> None:
        """Commit everything appended so far (retried while the server is unreachable)."""
        with self._flush_lock:
            with self._lock:
                batch, self._queue = self._queue, []
            if not batch:
                return
            chunks = [_encode(batch[i : i + _CHUNK]).decode() for i in range(0, len(batch), _CHUNK)]

            def write(conn: Conn) -> None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITE_LOCK_ID])
                for chunk in chunks:
                    conn.execute(_INSERT, [self._writer_id, chunk])

            try:
                self._db.run("decisions_append", write)
            except Unavailable:
                with self._lock:  # keep the batch for the next attempt, in order
                    self._queue[:0] = batch
                raise

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.flush()
                self._catch_up()
            except Unavailable:  # the batch stays queued; the next round retries
                log.exception(
                    "decision log sync failed; decisions stay queued pending=%d", self.pending()
                )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()  # a round ends within the retry budget
        try:
            self.flush()
        finally:
            self._db.close()
