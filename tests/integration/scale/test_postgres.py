"""PostgreSQL durable stores: versioned migrations via the CLI, and writes that survive a
server restart (retried, nothing lost, nothing doubled)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netcx.adapters.storage._postgres import Postgres, migrations
from netcx.adapters.storage.postgres_audit import PostgresAuditLog
from netcx.adapters.storage.postgres_consent import PostgresConsentLedger
from netcx.adapters.storage.postgres_identity import PostgresIdentityStore
from netcx.domain.consent import ConsentDecision, Purpose
from netcx.domain.identity import Edge, EdgeSource
from netcx.domain.privacy import AuditAction, AuditRecord
from tests.servers import PostgresServer, postgres_server

pytestmark = [pytest.mark.postgres, pytest.mark.integration]


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    with postgres_server() as s:
        yield s


def netcx(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETCX_SCALE__POSTGRES__URL": url}
    return subprocess.run(
        [sys.executable, "-m", "netcx", *args], env=env, capture_output=True, text=True, check=False
    )


def test_db_migrate_applies_each_version_once(server: PostgresServer) -> None:
    n = len(migrations())
    assert n >= 3
    first = netcx("db", "migrate", url=server.url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [
        f"applied={','.join(map(str, range(1, n + 1)))}",
        f"schema_version={n}",
    ]
    again = netcx("db", "migrate", url=server.url)
    assert again.stdout.split() == ["applied=-", f"schema_version={n}"]


def test_db_migrate_names_an_unreachable_server() -> None:
    env_url = "postgresql://postgres@127.0.0.1:1/postgres"
    proc = subprocess.run(
        [sys.executable, "-m", "netcx", "db", "migrate"],
        env={
            **os.environ,
            "NETCX_SCALE__POSTGRES__URL": env_url,
            "NETCX_SCALE__POSTGRES__RETRY_BUDGET_S": "1",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 7  # Unavailable
    assert "postgres: migrate failed" in proc.stderr


def test_writes_during_a_restart_are_retried_and_land_once(server: PostgresServer) -> None:
    db = Postgres(server.url, pool_size=2, retry_budget_s=30)
    db.migrate()
    consent, audit, graph = (
        PostgresConsentLedger(db),
        PostgresAuditLog(db),
        PostgresIdentityStore(db),
    )
    subject = "vi1_" + "a" * 24
    acknowledged: list[int] = []
    latencies_s: list[float] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        try:
            while not stop.is_set() or i < 50:
                t0 = time.monotonic()
                consent.append(
                    ConsentDecision(subject, Purpose.ANALYTICS, i % 2 == 0, i, "api", "v1")
                )
                audit.append([AuditRecord(i, AuditAction.RESOLVE, "web", subject=subject)])
                graph.put_edges(
                    [Edge(subject, f"ln1_{i:024d}", EdgeSource.NETWORK, 0.9, i, i, ttl_s=60)]
                )
                acknowledged.append(i)
                latencies_s.append(time.monotonic() - t0)
                i += 1
        except BaseException as err:  # reported below
            errors.append(err)

    t = threading.Thread(target=writer)
    t.start()
    try:
        while len(acknowledged) < 20:
            threading.Event().wait(0.01)
        server.stop()
        time.sleep(1.0)  # down for a second: writes wait and retry
        server.start()
        before = len(acknowledged)
        while len(acknowledged) < before + 20 and t.is_alive():
            threading.Event().wait(0.01)
    finally:
        stop.set()
        t.join(60)
    assert not errors, errors
    assert max(latencies_s) > 0.8, "some write should have waited through the outage"
    n = len(acknowledged)
    assert acknowledged == list(range(n))
    assert [d.at_ms for d in consent.history(subject)] == list(range(n))
    assert [r.at_ms for r in audit.read(subject, limit=10 * n)] == list(range(n))
    assert len(graph.edges_of(subject)) == n
    db.close()


def test_two_serve_instances_share_identity_on_postgres_across_a_restart(
    server: PostgresServer, tmp_path: Path
) -> None:
    from tests.integration.identity.test_identity_http import client as api
    from tests.integration.identity.test_identity_http import recognise, server_env
    from tests.servers import netcx_server

    env = server_env(
        tmp_path, NETCX_IDENTITY__STORE="postgres", NETCX_SCALE__POSTGRES__URL=server.url
    )
    with (
        netcx_server(tmp_path / "a", env=env) as a,
        netcx_server(tmp_path / "b", env=env) as b,
        api(a) as ca,
        api(b, "call-centre") as cb,
    ):
        grant = {"granted": True, "source": "tag", "text_version": "cmp-v7"}
        assert ca.put("/v1/consent/visitor:c1/personalisation", json=grant).status_code == 200
        assert recognise(cb, "c1")["state"] == "network_line"  # B reads what A wrote
        server.stop()
        restarter = threading.Timer(1.0, server.start)
        restarter.start()
        try:  # sent while PostgreSQL is down: waits, then lands
            r = ca.put("/v1/consent/visitor:c2/personalisation", json=grant)
        finally:
            restarter.join()
        assert r.status_code == 200, r.text
        assert recognise(cb, "c2")["state"] == "network_line"
        audit = cb.get("/v1/audit", params={"limit": 100}).json()
    assert len(audit["records"]) >= 4
