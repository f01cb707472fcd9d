"""Trigger delivery by `netcx bus triggers` workers vs inline delivery in the deciding process.

The same triggers go to the same local signed-webhook receiver: the baseline is the inline
sink of `netcx serve` (the webhook queue in this process); ours reads them from a Tansu topic
in a consumer group of 1 and then 2 worker processes (ledger in SQLite, commit per batch).
Ratios: bus (1 and 2 workers) triggers/s ÷ inline triggers/s. CPU µs per trigger of a
worker process (user + system, from /proc) is the machine-independent figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec
from aiokafka import AIOKafkaProducer
from bench._results import help_or_run, record
from bench.scale import _cpu_s
from tests.contract.test_trigger_sink import sample_triggers
from tests.integration.decisions.servers import Receiver, webhook_receiver
from tests.servers import kafka_broker, stop

from netcx.adapters.bus.kafka import ensure_topic
from netcx.adapters.triggers.dead_letters import FolderDeadLetterStore
from netcx.adapters.triggers.queue import QueuedTriggerSink
from netcx.adapters.triggers.webhook import WebhookTransport
from netcx.domain.decisions.triggers import IDEMPOTENCY_HEADER, Trigger

TRIGGERS = 3000
SECRET = "bench-secret"
PARTITIONS = 2


def publish(bootstrap: str, topic: str, triggers: list[Trigger]) -> None:
    """The triggers on `topic` as `netcx serve` publishes them (KafkaTransport's record)."""

    async def run() -> None:
        await ensure_topic(bootstrap, topic, PARTITIONS, 3_600_000)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            futures = []
            for t in triggers:
                futures.append(
                    await producer.send(
                        topic,
                        msgspec.json.encode(t),
                        key=t.partition_key.encode(),
                        headers=[(IDEMPOTENCY_HEADER, t.idempotency_key.encode())],
                    )
                )
            for f in futures:
                await f
        finally:
            await producer.stop()

    asyncio.run(run())


def inline_child(url: str, dead: str) -> None:
    """The baseline's own process (run by `inline_rate`): the inline webhook sink of a
    deciding process, fed every trigger; prints wall and CPU seconds as JSON."""
    triggers = sample_triggers(TRIGGERS)
    sink = QueuedTriggerSink(
        WebhookTransport(url, SECRET.encode(), 5.0), FolderDeadLetterStore(Path(dead)), name="b"
    )
    t0, c0 = time.perf_counter(), time.process_time()
    for t in triggers:
        sink.submit(t)
    assert sink.flush(timeout_s=600)
    print(json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}))
    sink.close()


def inline_rate(rx: Receiver, dead: Path) -> dict[str, float]:
    """Inline delivery in a process of its own (the receiver stays in this one, as for the
    workers, so neither shares the receiver's interpreter)."""
    code = f"from bench.bus_triggers import inline_child; inline_child({rx.url!r}, {str(dead)!r})"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=900,
    )
    took = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(rx.received) == TRIGGERS and rx.duplicates == 0
    return {
        "triggers.inline_per_s": TRIGGERS / took["wall_s"],
        "triggers.inline_cpu_us_per_trigger": took["cpu_s"] * 1e6 / TRIGGERS,
    }


def bus_rate(
    n: int, rx: Receiver, bootstrap: str, topic: str, data: Path, log: Path
) -> dict[str, float]:
    env = {
        **os.environ,
        "NETCX_STORAGE__DATA_DIR": str(data),
        "NETCX_DECISIONS__TRIGGERS__SINK": "webhook",
        "NETCX_DECISIONS__TRIGGERS__WEBHOOK_URL": rx.url,
        "NETCX_DECISIONS__TRIGGERS__WEBHOOK_SECRET": SECRET,
        "NETCX_DECISIONS__TRIGGERS__DELIVER_INLINE": "false",
        "NETCX_DECISIONS__TRIGGERS__KAFKA_BOOTSTRAP": bootstrap,
        "NETCX_DECISIONS__TRIGGERS__KAFKA_TOPIC": topic,
        "NETCX_DECISIONS__TRIGGERS__KAFKA_PARTITIONS": str(PARTITIONS),
    }
    procs = []
    with log.open("ab") as out:
        for i in range(n):
            cmd = [sys.executable, "-m", "netcx", "bus", "triggers", "--member", f"b{i}"]
            procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT))
    try:
        # The window opens when the group has settled and 10 % are delivered (start-up and
        # the first rebalance are not delivery costs) and closes when all are.
        deadline = time.monotonic() + 600
        while len(rx.received) < TRIGGERS // 10:
            assert time.monotonic() < deadline, "bus triggers delivered too little"
            time.sleep(0.01)
        done0, t0 = len(rx.received), time.perf_counter()
        cpu0 = sum(_cpu_s(p.pid) for p in procs)
        while len(rx.received) < TRIGGERS:
            assert time.monotonic() < deadline, "bus triggers did not deliver everything"
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        cpu = sum(_cpu_s(p.pid) for p in procs) - cpu0
    finally:
        for p in procs:
            stop(p)
    delivered = TRIGGERS - done0
    assert rx.duplicates == 0
    return {
        f"triggers.bus_per_s_{n}w": delivered / wall,
        f"triggers.bus_cpu_us_per_trigger_{n}w": cpu * 1e6 / delivered,
    }


def main() -> None:
    numbers: dict[str, float] = {"triggers.load_average_1m": os.getloadavg()[0]}
    triggers = sample_triggers(TRIGGERS)
    with tempfile.TemporaryDirectory() as tmp:
        with webhook_receiver(SECRET.encode()) as rx:
            numbers |= inline_rate(rx, Path(tmp) / "dead")
        with kafka_broker() as bootstrap:
            for n in (1, 2):
                topic = f"bench-triggers-{n}w"
                with webhook_receiver(SECRET.encode()) as rx:
                    publish(bootstrap, topic, triggers)
                    numbers |= bus_rate(
                        n, rx, bootstrap, topic, Path(tmp) / f"w{n}", Path(tmp) / "w.log"
                    )
                print({k: round(v, 1) for k, v in numbers.items()}, flush=True)
    for n in (1, 2):
        numbers[f"triggers.bus_vs_inline_{n}w"] = (
            numbers[f"triggers.bus_per_s_{n}w"] / numbers["triggers.inline_per_s"]
        )
    numbers["triggers.load_average_1m_end"] = os.getloadavg()[0]
    record(numbers)
    for k, v in sorted(numbers.items()):
        print(f"{k:45s} {v:12.2f}")


if __name__ == "__main__":
    help_or_run(__doc__)
    main()
