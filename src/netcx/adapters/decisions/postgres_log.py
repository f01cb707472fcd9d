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

import msgspec

from netcx.adapters.decisions.indexed_log import IndexedDecisionLog, Records
from netcx.adapters.storage._postgres import Conn, Postgres
from netcx.domain.decisions.engine import Decision
from netcx.errors import Unavailable

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


class PostgresDecisionLog(IndexedDecisionLog):
    """Owns `db` (closed with the log)."""

    _write_errors = (Unavailable,)

    def __init__(self, db: Postgres, sync_interval_s: float = 0.1) -> None:
        self._db = db
        super().__init__(sync_interval_s, "decision-log-pg")

    def _catch_up_for_contacts(self) -> None:
        """Nothing: the background round catches up."""

    def _catch_up(self) -> None:
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
                self._reindex(erasure, self._all_records)
                return
            self._index_new(record for _, _, record in rows if record is not None)
            self._seen_seq = int(rows[0][0])

    def _all_records(self) -> Records:
        return self._db.run(
            "decisions_scan",
            lambda c: c.execute("SELECT seq, record::text FROM decisions ORDER BY seq").fetchall(),
        )

    def _delete(self, decision_ids: list[str]) -> int:
        def erase(conn: Conn) -> int:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITE_LOCK_ID])
            erased = conn.execute(
                "DELETE FROM decisions WHERE decision_id = ANY(%s)", [decision_ids]
            ).rowcount
            if erased:
                conn.execute("INSERT INTO decision_erasures DEFAULT VALUES")
            return int(erased)

        return self._db.run("decisions_erase", erase)

    def _write(self, batch: list[Decision]) -> None:
        """One transaction, retried while the server is unreachable."""
        chunks = [_encode(batch[i : i + _CHUNK]).decode() for i in range(0, len(batch), _CHUNK)]

        def write(conn: Conn) -> None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_WRITE_LOCK_ID])
            for chunk in chunks:
                conn.execute(_INSERT, [self._writer_id, chunk])

        self._db.run("decisions_append", write)

    def _sync_round(self) -> None:
        self.flush()
        self._catch_up()

    def _close_store(self) -> None:
        self._db.close()
