"""Collector → durable segment log → forwarder → Kafka-protocol broker → resolve workers, with
faults: the broker down while events arrive, a forwarder killed mid-drain, Redis (online
state) restarted under load. Nothing acknowledged is lost; each event is resolved once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from netcx.adapters.storage._redis import client
from netcx.adapters.storage.redis_online import RedisResolvedEvents
from netcx.bootstrap import build_pseudonymizer
from netcx.config import load_settings
from netcx.domain.pseudonyms import IdKind
from netcx.domain.resolution import Level
from tests.integration.collect.conftest import collector
from tests.integration.scale.conftest import (
    CLIENT_IP,
    LINE,
    bindings_file,
    collector_env,
    netcx_process,
    send_events,
)
from tests.servers import free_port, kafka_broker, metric, redis_process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.redis]


def bus_env(bootstrap: str, redis_url: str) -> dict[str, str]:
    return {
        "NETCX_SCALE__BUS__BACKEND": "kafka",
        "NETCX_SCALE__BUS__KAFKA_BOOTSTRAP": bootstrap,
        "NETCX_SCALE__BUS__PARTITIONS": "4",
        "NETCX_SCALE__BUS__RECOGNITION_WAIT_MS": "200",
        "NETCX_SCALE__ONLINE__STORE": "redis",
        "NETCX_SCALE__ONLINE__REDIS_URL": redis_url,
    }


def lag_bytes(data: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "netcx", "bus", "lag", "--data", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(out.stdout)["lag_bytes"])


def answers_for(redis_url: str, ids: list[str]) -> list[object]:
    store = RedisResolvedEvents(client(redis_url))
    return [store.get(("segment", i)) for i in ids]


def assert_no_raw_ip_in_logs(folder: Path) -> None:
    for log in folder.glob("*.log"):
        assert CLIENT_IP not in log.read_text(errors="replace"), log.name


def expected_line() -> str:
    return build_pseudonymizer(load_settings()).pseudonym(IdKind.LINE, LINE)


def test_broker_down_then_back_and_a_killed_forwarder_lose_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    broker_port = free_port()  # nothing listens there yet
    with redis_process(appendonly=True) as redis, collector(data, env=collector_env()) as served:
        env = bus_env(f"127.0.0.1:{broker_port}", redis.url)
        load = netcx_process(
            ["bus", "load-bindings", str(bindings_file(tmp_path))], env, tmp_path / "load.log"
        )
        with load as p:
            assert p.wait(30) == 0
        with netcx_process(
            ["bus", "forward", "--data", str(data)], env, tmp_path / "fwd1.log"
        ) as fwd:
            acked = send_events(served.base, 0, 200)  # broker unavailable: still accepted
            assert len(acked) == 200
            time.sleep(0.5)
            assert fwd.poll() is None, "the forwarder waits for the broker"
            assert lag_bytes(data) > 0
            mport = free_port()
            worker = netcx_process(
                ["bus", "resolve", "--member", "w1", "--metrics-port", str(mport)],
                env,
                tmp_path / "w1.log",
            )
            with worker:
                wait_until(lambda: metric(mport, "netcx_bus_up") == 0.0, what="worker sees no bus")
                with kafka_broker(broker_port):
                    wait_until(
                        lambda: (metric(mport, "netcx_bus_events_resolved_total") or 0) >= 100,
                        timeout_s=60,
                        what="first half resolved",
                    )
                    fwd.send_signal(signal.SIGKILL)  # no checkpoint written after the last send
                    fwd.wait()
                    acked += send_events(served.base, 200, 100)
                    with netcx_process(
                        ["bus", "forward", "--data", str(data)], env, tmp_path / "fwd2.log"
                    ):
                        wait_until(
                            lambda: metric(mport, "netcx_bus_events_resolved_total") == 300,
                            timeout_s=60,
                            what="every event resolved",
                        )
                        time.sleep(1.0)  # redeliveries, if any, arrive and are skipped
                        assert metric(mport, "netcx_bus_events_resolved_total") == 300
                        assert lag_bytes(data) == 0
        answers = answers_for(redis.url, acked)
    assert len(acked) == 300
    line = expected_line()
    assert all(
        a is not None and a.level is Level.LINE and a.line_id == line  # type: ignore[attr-defined]
        for a in answers
    )
    assert_no_raw_ip_in_logs(tmp_path)


def test_redis_restart_under_load_degrades_then_recovers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        redis_process(appendonly=True) as redis,
        kafka_broker() as bootstrap,
        collector(data, env=collector_env()) as served,
    ):
        env = bus_env(bootstrap, redis.url)
        with netcx_process(
            ["bus", "load-bindings", str(bindings_file(tmp_path))], env, tmp_path / "load.log"
        ) as p:
            assert p.wait(30) == 0
        mport = free_port()
        with (
            netcx_process(["bus", "forward", "--data", str(data)], env, tmp_path / "fwd.log"),
            netcx_process(
                ["bus", "resolve", "--member", "w1", "--metrics-port", str(mport)],
                env,
                tmp_path / "w1.log",
            ),
        ):
            acked: list[str] = []
            done = threading.Event()

            def load() -> None:
                n = 0
                while not done.is_set():
                    acked.extend(send_events(served.base, n, 20, batch=20))
                    n += 20
                    time.sleep(0.02)

            sender = threading.Thread(target=load)
            sender.start()
            try:
                wait_until(
                    lambda: (metric(mport, "netcx_bus_events_resolved_total") or 0) >= 40,
                    timeout_s=60,
                    what="worker running",
                )
                redis.stop()
                wait_until(
                    lambda: metric(mport, "netcx_online_state_up") == 0.0,
                    timeout_s=20,
                    what="degraded status",
                )
                time.sleep(0.5)
                redis.start()
                wait_until(
                    lambda: metric(mport, "netcx_online_state_up") == 1.0,
                    timeout_s=20,
                    what="recovered status",
                )
                time.sleep(0.5)
            finally:
                done.set()
                sender.join(30)
            total = len(acked)
            wait_until(
                lambda: metric(mport, "netcx_bus_events_resolved_total") == total,
                timeout_s=60,
                what="every acknowledged event resolved",
            )
            degraded = metric(mport, "netcx_resolve_degraded_answers_total")
        answers = answers_for(redis.url, acked)
    assert degraded and degraded > 0
    line = expected_line()
    assert all(a is not None and a.line_id == line for a in answers)  # type: ignore[attr-defined]
    assert_no_raw_ip_in_logs(tmp_path)
