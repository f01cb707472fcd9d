"""The decision log on PostgreSQL: restarted under load, every decision lands exactly once
and deciding never waits for the server; `netcx serve` writes there when configured."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from netcx.adapters.decisions.postgres_log import PostgresDecisionLog
from netcx.adapters.storage._postgres import Postgres
from tests.contract.test_decision_log import decision
from tests.servers import PostgresServer, netcx_server, postgres_server, wait_until
from tests.unit.decisions.helpers import NOW

pytestmark = [pytest.mark.postgres, pytest.mark.integration]


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    with postgres_server() as s:
        yield s


def stored(url: str) -> list[tuple[str, str]]:
    db = Postgres(url, pool_size=1)
    try:
        return db.run(
            "rows",
            lambda c: [
                (str(r[0]), str(r[1]))
                for r in c.execute("SELECT decision_id, writer FROM decisions ORDER BY seq")
            ],
        )
    finally:
        db.close()


def open_log(url: str) -> PostgresDecisionLog:
    db = Postgres(url, pool_size=2, retry_budget_s=30)
    db.migrate()
    return PostgresDecisionLog(db, sync_interval_s=0.05)


def test_restart_under_load_loses_nothing_and_never_blocks_append(server: PostgresServer) -> None:
    log = open_log(server.url)
    appended: list[str] = []
    latencies_s: list[float] = []
    stop = threading.Event()

    def decide_loop() -> None:  # the request path: append only
        i = 0
        while not stop.is_set():
            d = decision(i, f"ac1_{i % 50}", NOW + i, f"s{i}")
            t0 = time.perf_counter()
            log.append(d)
            latencies_s.append(time.perf_counter() - t0)
            appended.append(d.decision_id)
            i += 1
            time.sleep(0.001)

    t = threading.Thread(target=decide_loop)
    t.start()
    try:
        wait_until(lambda: len(stored(server.url)) > 100, what="first decisions stored")
        server.stop()
        during = len(appended)
        time.sleep(1.5)  # down: decisions keep being made and queue up
        assert len(appended) > during + 100
        assert log.pending() > 0
        server.start()
        wait_until(lambda: log.pending() < 50, what="the queue drained after the restart")
    finally:
        stop.set()
        t.join(10)
    log.close()  # writes the rest
    rows = stored(server.url)
    assert [r[0] for r in rows] == appended  # every decision, once, in order
    assert max(latencies_s) < 0.5  # the outage was 1.5 s; nobody waited for it


def test_a_retried_batch_lands_once_and_instances_see_each_other(server: PostgresServer) -> None:
    a, b = open_log(server.url), open_log(server.url)
    try:
        d = decision(1, "ac1_shared", NOW, "s1")
        a.append(d)
        a.flush()
        b.append(d)  # the same decision again (a redelivery, a retry after a lost ack)
        b.flush()
        assert [r[0] for r in stored(server.url)] == [d.decision_id]
        other = decision(2, "ac1_shared", NOW + 60_000, "s2")
        b.append(other)
        wait_until(lambda: len(a.contacts("ac1_shared", 0)) == 2, what="a sees b's contact")
        assert a.get(other.decision_id) == other
    finally:
        a.close()
        b.close()


def test_netcx_serve_logs_decisions_to_postgres_across_a_restart(
    server: PostgresServer, tmp_path: Path
) -> None:
    env = {"NETCX_DECISIONS__LOG": "postgres", "NETCX_SCALE__POSTGRES__URL": server.url}
    body = {"channel": "app", "event": {"type": "screen", "url": "/roaming"}}
    ids: list[str] = []
    with netcx_server(tmp_path / "a", env=env) as a, httpx.Client(timeout=10) as http:
        ids.append(http.post(f"{a}/v1/decide", json=body).json()["decision_id"])
        wait_until(lambda: [r[0] for r in stored(server.url)] == ids, what="first row")
        server.stop()
        t0 = time.perf_counter()
        r = http.post(f"{a}/v1/decide", json=body)
        answered_s = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        ids.append(r.json()["decision_id"])
        server.start()
        wait_until(
            lambda: sorted(r[0] for r in stored(server.url)) == sorted(ids),
            timeout_s=30,
            what="the decision made during the outage stored",
        )
        assert http.get(f"{a}/v1/decide/srm").status_code == 200
    assert answered_s < 1.0  # answered while PostgreSQL was down
