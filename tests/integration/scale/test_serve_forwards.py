"""`netcx serve` forwards its own event log to the broker when a bus is configured: events
posted over HTTP reach a real Kafka-protocol broker; with the broker down the collector still
acknowledges and the log drains when it returns; with two workers one forwarder sends."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from netcx.domain.events import StoredEvent
from tests.integration.collect.conftest import WRITE_KEY
from tests.servers import free_port, kafka_broker, netcx_server, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

TOPIC = "netcx.events"
decode = msgspec.msgpack.Decoder(StoredEvent).decode


def bus_env(bootstrap: str) -> dict[str, str]:
    return {
        "NETCX_HTTP__WRITE_KEYS": json.dumps([WRITE_KEY]),
        "NETCX_SCALE__BUS__BACKEND": "kafka",
        "NETCX_SCALE__BUS__KAFKA_BOOTSTRAP": bootstrap,
        "NETCX_SCALE__BUS__PARTITIONS": "2",
        "NETCX_SCALE__BUS__RECOGNITION_WAIT_MS": "200",
    }


def post(base: str, first: int, n: int, batch: int = 10) -> list[str]:
    """POST n Segment events, each batch on a new connection (so every worker gets some);
    return the ids the collector acknowledged."""
    acked: list[str] = []
    for start in range(first, first + n, batch):
        ids = [f"m{i:05d}" for i in range(start, min(start + batch, first + n))]
        body = {"batch": [{"type": "track", "event": "E", "messageId": i, "anonymousId": i}
                          for i in ids]}  # fmt: skip
        r = httpx.post(f"{base}/v1/batch", json=body, auth=(WRITE_KEY, ""), timeout=10)
        if r.status_code == 200:
            acked += ids
    return acked


def on_topic(bootstrap: str, want: set[str], timeout_s: float = 60) -> list[str]:
    """Every event id on the topic (duplicates kept) once `want` are all there, plus what
    arrives in a further second (late duplicates)."""

    async def run() -> list[str]:
        consumer = AIOKafkaConsumer(
            TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        seen: list[str] = []
        try:
            deadline = time.monotonic() + timeout_s
            settle: float | None = None
            while time.monotonic() < (settle or deadline):
                batches = await consumer.getmany(timeout_ms=200)
                seen += [decode(r.value).event.event_id for rs in batches.values() for r in rs]
                if settle is None and want <= set(seen):
                    settle = time.monotonic() + 1.0
        finally:
            await consumer.stop()
        return seen

    return asyncio.run(run())


def topic_retention_ms(bootstrap: str) -> str:
    """retention.ms of the topic netcx created."""

    async def run() -> str:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (reply,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, TOPIC)]
            )
        finally:
            await admin.close()
        (resource,) = reply.resources
        return str({e[0]: e[1] for e in resource[4]}["retention.ms"])

    return asyncio.run(run())


def lag_bytes(data: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "netcx", "bus", "lag", "--data", str(data)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(json.loads(out.stdout)["lag_bytes"])


def test_serve_acks_while_the_broker_is_down_and_drains_when_it_returns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()  # the broker's address; nothing listens there yet
    bootstrap = f"127.0.0.1:{port}"
    with netcx_server(data, env=bus_env(bootstrap)) as base:
        acked = post(base, 0, 100)
        assert len(acked) == 100  # the broker is down: the local durable log took them
        time.sleep(1.0)
        assert lag_bytes(data) > 0

        with kafka_broker(port):
            # the forwarder creates the topic (before a consumer could auto-create it)
            wait_until(lambda: lag_bytes(data) == 0, timeout_s=60, what="drained")
            first = on_topic(bootstrap, set(acked))
            assert set(first) == set(acked)
            acked += post(base, 100, 50)  # and with the broker up, straight through
            everything = on_topic(bootstrap, set(acked))
            wait_until(lambda: lag_bytes(data) == 0, what="checkpoint at the end of the log")
            retention = topic_retention_ms(bootstrap)
    assert set(everything) == set(acked) and len(acked) == 150
    assert retention == str(7 * 86_400_000)  # bounds the life of an erased subject's copies


def test_with_two_workers_one_forwarder_sends_each_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        kafka_broker() as bootstrap,
        netcx_server(data, env=bus_env(bootstrap), args=("--workers", "2")) as base,
    ):
        acked = post(base, 0, 200)
        assert len(acked) == 200
        seen = on_topic(bootstrap, set(acked))
        second = subprocess.run(
            [sys.executable, "-m", "netcx", "bus", "forward", "--once", "--data", str(data)],
            capture_output=True,
            text=True,
            env={**os.environ, **bus_env(bootstrap)},
            check=False,
        )
        assert second.returncode != 0 and "another forwarder" in " ".join(second.stderr.split())
        segments = {p.name.split("-")[0] for p in (data / "events").glob("*.seg")}
    assert segments == {"w0", "w1"}, "both workers appended"
    assert sorted(seen) == sorted(acked), "every event once: a single forwarder sent them"
