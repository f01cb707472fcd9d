"""IdentityStore on an embedded DuckDB file (the default `embedded` backend)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import msgspec

from netcx.adapters.storage._duckdb import connect
from netcx.domain.identity import Edge, EdgeSource

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identity_edges (
    key VARCHAR PRIMARY KEY,
    src VARCHAR NOT NULL,
    dst VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    edge BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS identity_edges_src ON identity_edges (src);
CREATE INDEX IF NOT EXISTS identity_edges_dst ON identity_edges (dst);
"""


class DuckDBIdentityStore:
    def __init__(self, path: Path) -> None:
        self._con = connect(path, _SCHEMA)
        self._lock = threading.Lock()
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Edge).decode

    def close(self) -> None:
        self._con.close()

    def put_edges(self, edges: Sequence[Edge]) -> None:
        if not edges:
            return
        latest = {e.key: e for e in edges}  # one row per key within a batch
        rows = [
            (e.key, e.src, e.dst, e.source.value, e.last_seen_ms, self._encode(e))
            for e in latest.values()
        ]
        with self._lock:
            self._con.begin()
            try:
                self._con.executemany(
                    "DELETE FROM identity_edges WHERE key = ?", [(r[0],) for r in rows]
                )
                self._con.executemany("INSERT INTO identity_edges VALUES (?, ?, ?, ?, ?, ?)", rows)
                self._con.commit()
            except Exception:
                self._con.rollback()
                raise

    def edges_of(self, node: str) -> list[Edge]:
        with self._lock:
            rows = self._con.execute(
                "SELECT edge FROM identity_edges WHERE src = ? OR dst = ? ORDER BY key",
                [node, node],
            ).fetchall()
        return [self._decode(r[0]) for r in rows]

    def erase_node(self, node: str) -> int:
        with self._lock:
            row = self._con.execute(
                "DELETE FROM identity_edges WHERE src = ? OR dst = ? RETURNING key", [node, node]
            ).fetchall()
        return len(row)

    def purge(self, source: EdgeSource, last_seen_before_ms: int) -> int:
        with self._lock:
            rows = self._con.execute(
                "DELETE FROM identity_edges WHERE source = ? AND last_seen_ms < ? RETURNING key",
                [source.value, last_seen_before_ms],
            ).fetchall()
        return len(rows)
