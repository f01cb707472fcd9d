"""The lighter alternative: the same forwarder and workers on Redis Streams, two workers in
one consumer group sharing the work, every acknowledged event resolved once."""

from __future__ import annotations

from pathlib import Path

import pytest

from netcx.adapters.storage._redis import client
from netcx.adapters.storage.redis_online import RedisResolvedEvents
from netcx.bootstrap import build_pseudonymizer
from netcx.config import load_settings
from netcx.domain.pseudonyms import IdKind
from tests.integration.collect.conftest import collector
from tests.integration.scale.conftest import (
    LINE,
    bindings_file,
    collector_env,
    netcx_process,
    send_events,
)
from tests.servers import free_port, metric, redis_process, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.redis]

# Enough events that the second worker's first poll (after its 100 ms idle sleep) still finds
# work: with a few hundred, one fast worker sometimes drained everything alone.
EVENTS = 1000


def test_two_workers_on_redis_streams_resolve_each_event_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with redis_process(appendonly=True) as redis, collector(data, env=collector_env()) as served:
        env = {
            "NETCX_SCALE__BUS__BACKEND": "redis",
            "NETCX_SCALE__BUS__REDIS_URL": redis.url,
            "NETCX_SCALE__BUS__PARTITIONS": "4",
            "NETCX_SCALE__BUS__BATCH_SIZE": "10",  # small batches: both workers get work
            "NETCX_SCALE__ONLINE__STORE": "redis",
            "NETCX_SCALE__ONLINE__REDIS_URL": redis.url,
        }
        with netcx_process(
            ["bus", "load-bindings", str(bindings_file(tmp_path))], env, tmp_path / "load.log"
        ) as p:
            assert p.wait(30) == 0
        acked = send_events(served.base, 0, EVENTS)
        ports = [free_port(), free_port()]
        workers = [
            netcx_process(
                ["bus", "resolve", "--member", f"w{i}", "--metrics-port", str(port)],
                env,
                tmp_path / f"w{i}.log",
            )
            for i, port in enumerate(ports)
        ]
        with workers[0], workers[1]:

            def resolved() -> list[float]:
                return [metric(p, "netcx_bus_events_resolved_total") or 0.0 for p in ports]

            wait_until(
                lambda: all(metric(p, "netcx_bus_up") == 1.0 for p in ports),
                what="both workers polling",
            )
            forwarder = netcx_process(
                ["bus", "forward", "--data", str(data)], env, tmp_path / "fwd.log"
            )
            with forwarder:
                wait_until(lambda: sum(resolved()) == EVENTS, timeout_s=90, what="all resolved")
                shares = resolved()
        store = RedisResolvedEvents(client(redis.url))
        answers = [store.get(("segment", i)) for i in acked]
        count = store.count()
    assert len(acked) == EVENTS and count == EVENTS
    assert all(s > 0 for s in shares), f"both workers take a share: {shares}"
    line = build_pseudonymizer(load_settings()).pseudonym(IdKind.LINE, LINE)
    assert all(a is not None and a.line_id == line for a in answers)
