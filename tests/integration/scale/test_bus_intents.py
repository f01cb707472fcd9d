"""`netcx bus intents`: intent scoring scales out on the bus in its own consumer group,
next to `netcx bus resolve`, and a killed, restarted or replaying worker counts no event twice."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import cast

import pytest
import redis

from netcx.adapters.bus.kafka import KafkaEventBus
from netcx.adapters.storage.intent_state_codec import decode_state
from netcx.bootstrap import build_pseudonymizer
from netcx.config import load_settings
from netcx.domain.events import Event, Recognition, RecognitionLevel, Source, StoredEvent
from netcx.domain.intents.scoring import SubjectState
from netcx.domain.pseudonyms import IdKind
from tests.integration.scale.conftest import netcx_process
from tests.servers import free_port, kafka_broker, metric, redis_server, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.redis]

TOPIC = "netcx-intents-test"
N = 120
SEARCHES = ["kündigungsfrist", "tarif", "wetter", "portierung", "datenvolumen"]


def stored(i: int) -> StoredEvent:
    """Visitors v0..v3; every third event already recognised to line/household."""
    event = Event(
        source=Source.SEGMENT,
        event_id=f"e{i:04d}",
        type="page",
        received_ms=1_700_000_000_000 + i * 1000,
        occurred_ms=1_700_000_000_000 + i * 1000,
        visitor_id=f"v{i % 4}",
        url="https://shop.example/suche",
        search=SEARCHES[i % len(SEARCHES)],
    )
    rec = (
        Recognition(
            RecognitionLevel.NETWORK_LINE, "port_block", 0.9, {"line": "ln_x", "household": "hh_x"}
        )
        if i % 3 == 0
        else None
    )
    return StoredEvent(event, rec)


def publish(bootstrap: str, items: list[StoredEvent]) -> None:
    async def run() -> None:
        bus = KafkaEventBus(bootstrap, TOPIC, 2, 3_600_000)
        try:
            # one key: the events of a household keep one order in every pass
            await bus.publish([("hh_x", e) for e in items])
        finally:
            await bus.close()

    asyncio.run(run())


def states(url: str) -> dict[str, SubjectState]:
    r = redis.Redis.from_url(url)
    try:
        keys = sorted(cast(list[bytes], r.keys("netcx:intent:*")))
        blobs = cast(list[bytes], r.mget(keys)) if keys else []
        return {k.decode(): decode_state(b) for k, b in zip(keys, blobs, strict=True)}
    finally:
        r.close()


def applied(url: str) -> set[str]:
    return {ref for s in states(url).values() for ref in s.applied}


def env(bootstrap: str, intent_url: str, online_url: str) -> dict[str, str]:
    return {
        "NETCX_SCALE__BUS__BACKEND": "kafka",
        "NETCX_SCALE__BUS__KAFKA_BOOTSTRAP": bootstrap,
        "NETCX_SCALE__BUS__TOPIC": TOPIC,
        "NETCX_SCALE__BUS__PARTITIONS": "2",
        "NETCX_SCALE__BUS__BATCH_SIZE": "7",  # many small batches: a kill lands mid-stream
        "NETCX_SCALE__ONLINE__STORE": "redis",
        "NETCX_SCALE__ONLINE__REDIS_URL": online_url,
        "NETCX_INTENTS__STATE_BACKEND": "redis",
        "NETCX_INTENTS__REDIS_URL": intent_url,
    }


def test_intents_worker_scores_once_next_to_resolve_through_kill_and_replay(
    tmp_path: Path,
) -> None:
    items = [stored(i) for i in range(N)]
    matching = {f"segment:{e.event.event_id}" for e in items if e.event.search != "wetter"}
    with kafka_broker() as bootstrap, redis_server() as url:
        main, clean = url + "/0", url + "/1"
        cfg = env(bootstrap, main, url + "/2")
        ports = {"resolve": free_port(), "intents": free_port()}
        publish(bootstrap, items[: N // 2])
        resolve = netcx_process(
            ["bus", "resolve", "--metrics-port", str(ports["resolve"])], cfg, tmp_path / "r.log"
        )
        first = netcx_process(
            ["bus", "intents", "--member", "i1", "--metrics-port", str(ports["intents"])],
            cfg,
            tmp_path / "i1.log",
        )
        with resolve, first as p1:
            wait_until(lambda: len(applied(main)) > 0, timeout_s=60, what="intents scoring")
            p1.send_signal(signal.SIGKILL)  # mid-stream: its last batch is not committed
            p1.wait(10)
            publish(bootstrap, items[N // 2 :])
            again = netcx_process(
                ["bus", "intents", "--member", "i2", "--metrics-port", str(ports["intents"])],
                cfg,
                tmp_path / "i2.log",
            )
            with again:
                wait_until(lambda: applied(main) == matching, timeout_s=90, what="all scored")
                wait_until(
                    lambda: metric(ports["resolve"], "netcx_bus_events_resolved_total") == N,
                    timeout_s=60,
                    what="the resolve group saw every event too",
                )
        killed_then_restarted = states(main)
        # A full replay in a new group over the same state applies nothing again.
        replay_port = free_port()
        with netcx_process(
            ["bus", "intents", "--group", "replay", "--metrics-port", str(replay_port)],
            cfg,
            tmp_path / "replay.log",
        ):
            wait_until(
                lambda: metric(replay_port, "netcx_bus_redeliveries_total") == len(matching),
                timeout_s=60,
                what="replay seen as redeliveries",
            )
            assert metric(replay_port, "netcx_bus_events_scored_total") == N - len(matching)
        assert states(main) == killed_then_restarted
        # One clean pass into an empty state gives the same intents.
        with netcx_process(
            ["bus", "intents", "--group", "clean"],
            {**cfg, "NETCX_INTENTS__REDIS_URL": clean},
            tmp_path / "clean.log",
        ):
            wait_until(lambda: applied(clean) == matching, timeout_s=60, what="clean pass")
        assert states(clean) == killed_then_restarted
    p = build_pseudonymizer(load_settings()).pseudonym
    subjects = {f"netcx:intent:{p(IdKind.VISITOR, f'v{i}')}" for i in range(4)}
    assert set(killed_then_restarted) == subjects | {"netcx:intent:ln_x", "netcx:intent:hh_x"}
    household = killed_then_restarted["netcx:intent:hh_x"]
    assert {"churn_research", "tariff_comparison"} <= set(household.intents)
    for log in tmp_path.glob("*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
