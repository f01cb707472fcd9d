"""IdentityStore on an embedded SQLite file (the default `embedded` store)."""

from __future__ import annotations

import json
import sqlite3
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
    """`edges_of_many` keeps the edges it read (up to `cache_nodes` nodes) while no other
    connection commits to the file, and this store's own writes update what it keeps: the
    recognition follower reads every group's visitors, whom nobody else changed meanwhile."""

    def __init__(self, path: Path, cache_nodes: int = 8192) -> None:
        self._db = SqliteFile(path, _SCHEMA)
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Edge).decode
        self._held: dict[str, tuple[Edge, ...]] = {}
        self._capacity = cache_nodes

    def _current(self, con: sqlite3.Connection) -> dict[str, tuple[Edge, ...]]:
        """What is kept, emptied first if another connection committed since (call under
        the file's lock)."""
        if self._db.others_committed(con) or len(self._held) > self._capacity:
            self._held.clear()
        return self._held

    def close(self) -> None:
        self._db.close()

    def put_edges(self, edges: Sequence[Edge]) -> None:
        rows = [
            (e.key, e.src, e.dst, e.source.value, e.last_seen_ms, self._encode(e)) for e in edges
        ]
        with self._db.transaction() as con:
            con.executemany("INSERT OR REPLACE INTO identity_edges VALUES (?, ?, ?, ?, ?, ?)", rows)
            held = self._current(con)
            for e in edges:
                for node in {e.src, e.dst}:
                    if node in held:
                        kept = [k for k in held[node] if k.key != e.key]
                        held[node] = tuple(sorted([*kept, e], key=lambda k: k.key))

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
        """One query for all nodes (a query per node was a tenth of a visit's recognition);
        an edge between two of them is in both lists, as `edges_of` would give it."""
        wanted = list(dict.fromkeys(nodes))
        if not wanted:
            return {}
        with self._db.reading() as con:
            held = self._current(con)
            missing = [n for n in wanted if n not in held]
            if missing:
                rows = con.execute(
                    "SELECT src, edge FROM identity_edges "
                    "WHERE src IN (SELECT value FROM json_each(?1)) "
                    "UNION ALL SELECT dst, edge FROM identity_edges "
                    "WHERE dst IN (SELECT value FROM json_each(?1)) AND src <> dst",
                    (json.dumps(missing),),
                ).fetchall()
                read: dict[str, list[Edge]] = {n: [] for n in missing}
                for node, blob in rows:
                    read[node].append(self._decode(blob))
                for node, edges in read.items():
                    held[node] = tuple(sorted(edges, key=lambda e: e.key))
            return {n: list(held[n]) for n in wanted}

    def erase_node(self, node: str) -> int:
        with self._db.erasing() as con:
            self._held.clear()
            return con.execute(
                "DELETE FROM identity_edges WHERE src = ? OR dst = ?", (node, node)
            ).rowcount

    def purge(self, source: EdgeSource, last_seen_before_ms: int) -> int:
        with self._db.transaction() as con:
            self._held.clear()
            return con.execute(
                "DELETE FROM identity_edges WHERE source = ? AND last_seen_ms < ?",
                (source.value, last_seen_before_ms),
            ).rowcount
