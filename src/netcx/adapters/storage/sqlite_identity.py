"""IdentityStore on an embedded SQLite file (the default `embedded` store)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from netcx.adapters.storage._sqlite import SqliteFile
from netcx.domain.identity import Edge, EdgeSource

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identity_edges (
    key TEXT PRIMARY KEY,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    source TEXT NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    edge BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identity_edges_src ON identity_edges (src);
CREATE INDEX IF NOT EXISTS identity_edges_dst ON identity_edges (dst);
CREATE INDEX IF NOT EXISTS identity_edges_seen ON identity_edges (source, last_seen_ms);
"""


class SqliteIdentityStore:
    def __init__(self, path: Path) -> None:
        self._db = SqliteFile(path, _SCHEMA)
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Edge).decode

    def close(self) -> None:
        self._db.close()

    def put_edges(self, edges: Sequence[Edge]) -> None:
        rows = [
            (e.key, e.src, e.dst, e.source.value, e.last_seen_ms, self._encode(e)) for e in edges
        ]
        with self._db.transaction() as con:
            con.executemany("INSERT OR REPLACE INTO identity_edges VALUES (?, ?, ?, ?, ?, ?)", rows)

    def edges_of(self, node: str) -> list[Edge]:
        with self._db.reading() as con:
            rows = con.execute(
                "SELECT edge FROM identity_edges WHERE src = ? "
                "UNION ALL SELECT edge FROM identity_edges WHERE dst = ? AND src <> ?",
                (node, node, node),
            ).fetchall()
        edges = [self._decode(r[0]) for r in rows]
        return sorted(edges, key=lambda e: e.key)

    def edges_of_many(self, nodes: Sequence[str]) -> dict[str, list[Edge]]:
        return {n: self.edges_of(n) for n in nodes}  # local reads: no round trip to save

    def erase_node(self, node: str) -> int:
        with self._db.erasing() as con:
            return con.execute(
                "DELETE FROM identity_edges WHERE src = ? OR dst = ?", (node, node)
            ).rowcount

    def purge(self, source: EdgeSource, last_seen_before_ms: int) -> int:
        with self._db.transaction() as con:
            return con.execute(
                "DELETE FROM identity_edges WHERE source = ? AND last_seen_ms < ?",
                (source.value, last_seen_before_ms),
            ).rowcount
