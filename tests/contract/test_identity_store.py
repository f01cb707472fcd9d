"""IdentityStore contract: every adapter stores, finds, erases and purges edges alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netcx.domain.identity import Edge, EdgeSource, retract
from netcx.ports import IdentityStore
from tests.contract.privacy_backends import (  # noqa: F401
    BACKENDS,
    open_port,
    postgres_url,
    redis_url,
)

V1, V2 = "vi1_" + "a" * 24, "vi1_" + "b" * 24
L1 = "ln1_" + "1" * 24
S1 = "sb1_" + "2" * 24
H1 = "hh1_" + "3" * 24


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IdentityStore]:
    with open_port("identity", request.param, tmp_path, request) as adapter:
        yield adapter


def net(src: str, dst: str, seen_ms: int, **kw: object) -> Edge:
    return Edge(src, dst, EdgeSource.NETWORK, 0.9, seen_ms, seen_ms, ttl_s=1800, **kw)  # type: ignore[arg-type]


def test_edges_are_found_from_both_nodes(store: IdentityStore) -> None:
    e = net(V1, L1, 1000, reason="radius_lease", evidence=("ev1_" + "c" * 24,))
    store.put_edges([e])
    assert store.edges_of(V1) == [e]
    assert store.edges_of(L1) == [e]
    assert store.edges_of(V2) == []


def test_edges_of_many_matches_edges_of(store: IdentityStore) -> None:
    store.put_edges([net(V1, L1, 1), net(V2, L1, 2), Edge(L1, S1, EdgeSource.CRM, 1.0, 1, 1)])
    nodes = [V1, L1, S1, H1]
    assert store.edges_of_many(nodes) == {n: store.edges_of(n) for n in nodes}
    assert store.edges_of_many([]) == {}


def test_put_replaces_by_key(store: IdentityStore) -> None:
    store.put_edges([net(V1, L1, 1000)])
    newer = net(V1, L1, 5000)
    store.put_edges([newer])
    assert store.edges_of(V1) == [newer]


def test_same_nodes_different_source_are_different_edges(store: IdentityStore) -> None:
    crm = Edge(L1, S1, EdgeSource.CRM, 1.0, 1, 1)
    login = Edge(V1, S1, EdgeSource.LOGIN, 1.0, 2, 2, reason="login")
    store.put_edges([crm, login, net(V1, L1, 3)])
    assert {e.key for e in store.edges_of(S1)} == {crm.key, login.key}
    assert len(store.edges_of(V1)) == 2


def test_retracted_edges_are_kept_as_tombstones(store: IdentityStore) -> None:
    e = Edge(V1, S1, EdgeSource.LOGIN, 1.0, 2, 2)
    store.put_edges([retract(e, 10, "ops:alice")])
    (back,) = store.edges_of(V1)
    assert back.retracted_ms == 10 and back.retracted_by == "ops:alice"


def test_erase_node_removes_every_edge_touching_it_only(store: IdentityStore) -> None:
    store.put_edges([net(V1, L1, 1), net(V2, L1, 1), Edge(L1, S1, EdgeSource.CRM, 1.0, 1, 1)])
    assert store.erase_node(V1) == 1
    assert store.edges_of(V1) == []
    assert [e.src for e in store.edges_of(L1) if e.source is EdgeSource.NETWORK] == [V2]
    assert store.erase_node(L1) == 2
    assert store.edges_of(V2) == [] and store.edges_of(S1) == []
    assert store.erase_node(L1) == 0


def test_purge_deletes_old_edges_of_one_source(store: IdentityStore) -> None:
    old, fresh = net(V1, L1, 100), net(V2, L1, 900)
    crm = Edge(L1, S1, EdgeSource.CRM, 1.0, 50, 50)
    store.put_edges([old, fresh, crm])
    assert store.purge(EdgeSource.NETWORK, 500) == 1
    assert store.edges_of(V1) == []
    assert store.edges_of(V2) == [fresh]
    assert store.edges_of(S1) == [crm]
    assert store.purge(EdgeSource.CRM, 500) == 1
    assert store.edges_of(S1) == []


def test_purge_uses_the_latest_replacement(store: IdentityStore) -> None:
    store.put_edges([net(V1, H1, 100)])
    store.put_edges([net(V1, H1, 900)])
    assert store.purge(EdgeSource.NETWORK, 500) == 0
    assert len(store.edges_of(H1)) == 1


def test_embedded_store_reads_what_another_connection_changed(tmp_path: Path) -> None:
    """The embedded store keeps the edges `edges_of_many` read and updates them with its
    own writes; another process's (connection's) write, erasure or purge is seen by the
    next read."""
    from netcx.adapters.storage.sqlite_identity import SqliteIdentityStore

    path = tmp_path / "identity.sqlite"
    follower, worker = SqliteIdentityStore(path), SqliteIdentityStore(path)
    try:
        follower.put_edges([net(V1, L1, 1)])
        assert follower.edges_of_many([V1, V2]) == {V1: [net(V1, L1, 1)], V2: []}
        follower.put_edges([net(V1, L1, 2), net(V2, L1, 2)])  # its own writes: kept too
        assert follower.edges_of_many([V1, V2]) == {V1: [net(V1, L1, 2)], V2: [net(V2, L1, 2)]}
        worker.put_edges([net(V1, L1, 3), Edge(V1, S1, EdgeSource.LOGIN, 1.0, 3, 3)])
        nodes = [V1, V2, L1]
        assert follower.edges_of_many(nodes) == {n: worker.edges_of(n) for n in nodes}
        assert len(follower.edges_of_many([V1])[V1]) == 2
        worker.erase_node(V2)
        assert follower.edges_of_many([V2, L1]) == {V2: [], L1: [net(V1, L1, 3)]}
        worker.purge(EdgeSource.NETWORK, last_seen_before_ms=10)
        assert follower.edges_of_many([V1, L1]) == {
            V1: [Edge(V1, S1, EdgeSource.LOGIN, 1.0, 3, 3)],
            L1: [],
        }
    finally:
        follower.close()
        worker.close()
