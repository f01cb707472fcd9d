"""IdentityStore on an embedded SQLite file (the default `embedded` store)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import msgspec

from netcx.adapters.storage._sqlite import KeptRows, SqliteFile
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
        self._kept: KeptRows[tuple[Edge, ...]] = KeptRows(self._db, cache_nodes)

    def close(self) -> None:
        self._db.close()

    def put_edges(self, edges: Sequence[Edge]) -> None:
        rows = [
            (e.key, e.src, e.dst, e.source.value, e.last_seen_ms, self._encode(e)) for e in edges
        ]
        with self._db.transaction() as con:
            con.executemany("INSERT OR REPLACE INTO identity_edges VALUES (?, ?, ?, ?, ?, ?)", rows)
            kept = self._kept.current(con)
            for e in edges:
                for node in {e.src, e.dst}:
                    if node in kept:
                        others = [k for k in kept[node] if k.key != e.key]
                        kept[node] = tuple(sorted([*others, e], key=lambda k: k.key))

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

            def read(missing: list[str]) -> dict[str, tuple[Edge, ...]]:
                rows = con.execute(
                    "SELECT src, edge FROM identity_edges "
                    "WHERE src IN (SELECT value FROM json_each(?1)) "
                    "UNION ALL SELECT dst, edge FROM identity_edges "
                    "WHERE dst IN (SELECT value FROM json_each(?1)) AND src <> dst",
                    (json.dumps(missing),),
                ).fetchall()
                found: dict[str, list[Edge]] = {n: [] for n in missing}
                for node, blob in rows:
                    found[node].append(self._decode(blob))
                return {n: tuple(sorted(edges, key=lambda e: e.key)) for n, edges in found.items()}

            kept = self._kept.many(con, wanted, read)
        return {n: list(edges) for n, edges in kept.items()}

    def erase_node(self, node: str) -> int:
        with self._db.erasing() as con:
            self._kept.clear()
            return con.execute(
                "DELETE FROM identity_edges WHERE src = ? OR dst = ?", (node, node)
            ).rowcount

    def purge(self, source: EdgeSource, last_seen_before_ms: int) -> int:
        with self._db.transaction() as con:
            self._kept.clear()
            return con.execute(
                "DELETE FROM identity_edges WHERE source = ? AND last_seen_ms < ?",
                (source.value, last_seen_before_ms),
            ).rowcount
