"""In-memory IdentityStore: the fake for tests and single-process use."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from netcx.domain.identity import Edge, EdgeSource


class MemoryIdentityStore:
    def __init__(self) -> None:
        self._edges: dict[str, Edge] = {}
        self._by_node: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def put_edges(self, edges: Sequence[Edge]) -> None:
        with self._lock:
            for e in edges:
                self._edges[e.key] = e
                self._by_node.setdefault(e.src, set()).add(e.key)
                self._by_node.setdefault(e.dst, set()).add(e.key)

    def edges_of(self, node: str) -> list[Edge]:
        with self._lock:
            return sorted(
                (self._edges[k] for k in self._by_node.get(node, ())), key=lambda e: e.key
            )

    def edges_of_many(self, nodes: Sequence[str]) -> dict[str, list[Edge]]:
        return {n: self.edges_of(n) for n in nodes}

    def _delete(self, keys: list[str]) -> int:
        for k in keys:
            e = self._edges.pop(k)
            for n in (e.src, e.dst):
                held = self._by_node.get(n)
                if held is not None:
                    held.discard(k)
                    if not held:
                        del self._by_node[n]
        return len(keys)

    def erase_node(self, node: str) -> int:
        with self._lock:
            return self._delete(list(self._by_node.get(node, ())))

    def purge(self, source: EdgeSource, last_seen_before_ms: int) -> int:
        with self._lock:
            doomed = [
                k
                for k, e in self._edges.items()
                if e.source is source and e.last_seen_ms < last_seen_before_ms
            ]
            return self._delete(doomed)
