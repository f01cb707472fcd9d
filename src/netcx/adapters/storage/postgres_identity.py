"""IdentityStore on PostgreSQL (the durable identity graph shared by every netcx instance)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from netcx.adapters.storage._postgres import Conn, Postgres
from netcx.domain.identity import Edge, EdgeSource

_UPSERT = """
INSERT INTO identity_edges (key, src, dst, source, last_seen_ms, edge)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (key) DO UPDATE SET
    src = EXCLUDED.src, dst = EXCLUDED.dst, source = EXCLUDED.source,
    last_seen_ms = EXCLUDED.last_seen_ms, edge = EXCLUDED.edge
"""


class PostgresIdentityStore:
    def __init__(self, db: Postgres) -> None:
        self._db = db
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Edge).decode

    def put_edges(self, edges: Sequence[Edge]) -> None:
        if not edges:
            return
        latest = {e.key: e for e in edges}  # one row per key within a batch
        rows = [
            (e.key, e.src, e.dst, e.source.value, e.last_seen_ms, self._encode(e))
            for e in latest.values()
        ]

        def write(conn: Conn) -> None:
            with conn.cursor() as cur:
                cur.executemany(_UPSERT, rows)

        self._db.run("put_edges", write)

    def edges_of(self, node: str) -> list[Edge]:
        def read(conn: Conn) -> list[Edge]:
            rows = conn.execute(
                "SELECT edge FROM identity_edges WHERE src = %s "
                "UNION ALL SELECT edge FROM identity_edges WHERE dst = %s AND src <> %s",
                [node, node, node],
            ).fetchall()
            return [self._decode(bytes(r[0])) for r in rows]

        return sorted(self._db.run("edges_of", read), key=lambda e: e.key)

    def edges_of_many(self, nodes: Sequence[str]) -> dict[str, list[Edge]]:
        """`edges_of` for each node, in one query (one round trip)."""
        wanted = list(dict.fromkeys(nodes))
        if not wanted:
            return {}

        def read(conn: Conn) -> list[tuple[Any, ...]]:
            return conn.execute(
                "SELECT src, dst, edge FROM identity_edges WHERE src = ANY(%s) OR dst = ANY(%s)",
                [wanted, wanted],
            ).fetchall()

        found: dict[str, dict[str, Edge]] = {n: {} for n in wanted}
        for src, dst, raw in self._db.run("edges_of_many", read):
            edge = self._decode(bytes(raw))
            for node in (src, dst):
                if node in found:
                    found[node][edge.key] = edge
        return {n: sorted(found[n].values(), key=lambda e: e.key) for n in nodes}

    def erase_node(self, node: str) -> int:
        def erase(conn: Conn) -> int:
            cur = conn.execute(
                "DELETE FROM identity_edges WHERE src = %s OR dst = %s", [node, node]
            )
            return cur.rowcount

        return self._db.run("erase_node", erase)

    def purge(self, source: EdgeSource, last_seen_before_ms: int) -> int:
        def purge(conn: Conn) -> int:
            cur = conn.execute(
                "DELETE FROM identity_edges WHERE source = %s AND last_seen_ms < %s",
                [source.value, last_seen_before_ms],
            )
            return cur.rowcount

        return self._db.run("purge_edges", purge)
