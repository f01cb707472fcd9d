"""`netcx bus triggers`: trigger delivery scales out in its own consumer group. Decisions made
over HTTP are published to the trigger topic (serve delivers nothing itself), two worker
processes deliver them to a real signed-webhook receiver, a SIGKILLed worker loses nothing,
a failing receiver ends in dead letters, and malformed records are skipped to dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from netcx.adapters.decisions.memory_sources import (
    StaticFactsSource,
    StaticIntentSource,
    StaticRecognitionSource,
)
from netcx.adapters.triggers.dead_letters import FolderDeadLetterStore
from netcx.bootstrap import build_decision_service, build_pseudonymizer
from netcx.config import Settings, load_settings
from netcx.domain.decisions.context import ActiveIntent
from netcx.domain.decisions.triggers import IDEMPOTENCY_HEADER
from tests.integration.decisions.fake_app import fake_server
from tests.integration.decisions.servers import Receiver, consume, webhook_receiver
from tests.integration.decisions.test_http_decide import churner, treated_account
from tests.integration.scale.conftest import netcx_process
from tests.servers import free_port, kafka_broker, metric, redis_server, wait_until
from tests.unit.decisions.helpers import line_visitor, mobile_facts

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

SECRET = "bus-triggers-secret"
TOPIC = "netcx-triggers-test"
N = 30
MSISDN = "+4915112345678"  # in a malformed record: must never reach a log


def trigger_env(bootstrap: str, receiver: Receiver) -> dict[str, str]:
    """The settings `netcx serve` and the workers share (as deploy/compose.yaml does)."""
    return {
        "NETCX_DECISIONS__TRIGGERS__SINK": "webhook",
        "NETCX_DECISIONS__TRIGGERS__WEBHOOK_URL": receiver.url,
        "NETCX_DECISIONS__TRIGGERS__WEBHOOK_SECRET": SECRET,
        "NETCX_DECISIONS__TRIGGERS__DELIVER_INLINE": "false",
        "NETCX_DECISIONS__TRIGGERS__BUS": "kafka",
        "NETCX_DECISIONS__TRIGGERS__KAFKA_BOOTSTRAP": bootstrap,
        "NETCX_DECISIONS__TRIGGERS__KAFKA_TOPIC": TOPIC,
        "NETCX_DECISIONS__TRIGGERS__KAFKA_PARTITIONS": "2",
        "NETCX_DECISIONS__TRIGGERS__MAX_ATTEMPTS": "3",
        "NETCX_DECISIONS__TRIGGERS__BACKOFF_INITIAL_S": "0.05",
        "NETCX_DECISIONS__TRIGGERS__BACKOFF_MAX_S": "0.2",
    }


class GatedReceiver(Receiver):
    """Holds every attempt of `gate_key` until `gate` is set, then refuses it (its sender is
    gone by then); remembers the sender's port of the held attempt."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(secret)
        self.gate_key = ""
        self.gate = threading.Event()
        self.held_port = 0

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        if headers.get(IDEMPOTENCY_HEADER) == self.gate_key and not self.gate.is_set():
            self.held_port = int(headers["x-peer-port"])
            self.gate.wait(60)
            return 503
        return super().handle(headers, body)


def owner_of_port(procs: dict[int, subprocess.Popen[bytes]], port: int) -> subprocess.Popen[bytes]:
    """The process among `procs` with a TCP socket bound to local `port` (/proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid, proc in procs.items():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return proc
    raise AssertionError(f"no worker owns port {port}")


def settings_from(env: dict[str, str], data: Path) -> Settings:
    """The settings a process started with `env` reads."""
    mp = pytest.MonkeyPatch()
    try:
        for k, v in {**env, "NETCX_STORAGE__DATA_DIR": str(data)}.items():
            mp.setenv(k, v)
        return load_settings()
    finally:
        mp.undo()


def publish_raw(bootstrap: str, values: list[bytes]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for v in values:
                await producer.send_and_wait(TOPIC, v, key=b"garbage")
        finally:
            await producer.stop()

    asyncio.run(run())


def test_two_workers_deliver_every_trigger_once_through_a_kill_with_dead_letters(
    tmp_path: Path,
) -> None:
    visitors = {f"v{i}": churner(treated_account(f"bt{i}_")) for i in range(N)}
    gated = GatedReceiver(SECRET.encode())
    with kafka_broker() as bootstrap, webhook_receiver(SECRET.encode(), gated) as receiver:
        assert receiver is gated
        env = trigger_env(bootstrap, receiver)
        with fake_server(visitors, tmp_path / "serve", env) as base:
            keys = []
            with httpx.Client(base_url=base, timeout=10) as client:
                for v in visitors:
                    r = client.post(
                        "/v1/decide",
                        json={"visitor_id": v, "session_id": f"s-{v}", "channel": "web"},
                    )
                    assert r.status_code == 200, r.text
                    keys.append(f"{r.json()['decision_id']}/cvm")
            on_topic = consume(bootstrap, TOPIC, N)
        # serve published every trigger to the topic and delivered none itself
        assert sorted(dict(r.headers)["idempotency-key"].decode() for r in on_topic) == sorted(keys)
        assert len({r.partition for r in on_topic}) == 2
        assert receiver.attempts == {}

        garbage = [b"{not json", json.dumps({"msisdn": MSISDN}).encode()]
        publish_raw(bootstrap, garbage)
        by_offset = {
            (r.partition, r.offset): dict(r.headers)["idempotency-key"].decode() for r in on_topic
        }
        # The CVM refuses two triggers every time (retries, then dead letters) and holds the
        # request of a third (after two others of its partition) until the worker sending it
        # has been SIGKILLed: that worker's batch is then delivered in part, uncommitted.
        doomed = {by_offset[1, 0], by_offset[1, 1]}
        receiver.always_fail = set(doomed)
        receiver.gate_key = by_offset[0, 2]
        data = tmp_path / "workers"
        wenv = {**env, "NETCX_STORAGE__DATA_DIR": str(data)}
        ports = [free_port(), free_port(), free_port()]

        def worker(
            i: int, group: str = "triggers"
        ) -> AbstractContextManager[subprocess.Popen[bytes]]:
            args = ["bus", "triggers", "--group", group, "--member", f"t{i}", "--batch-size", "100"]
            return netcx_process(
                [*args, "--metrics-port", str(ports[i])], wenv, tmp_path / f"{group}{i}.log"
            )

        delivered = lambda: set(receiver.received)  # noqa: E731
        with worker(0) as w0, worker(1) as w1:
            wait_until(lambda: receiver.held_port, timeout_s=60, what="a worker at the gate")
            holder = owner_of_port({w0.pid: w0, w1.pid: w1}, receiver.held_port)
            holder.send_signal(signal.SIGKILL)  # mid-stream: its batch in flight is uncommitted
            holder.wait(10)
            assert by_offset[0, 0] in delivered() and by_offset[0, 1] in delivered()
            receiver.gate.set()
            other = w1 if holder is w0 else w0
            with worker(2) as w2:  # and the killed one's replacement
                wait_until(
                    lambda: delivered() == set(keys) - doomed, timeout_s=90, what="all delivered"
                )
                dead = FolderDeadLetterStore(data / "triggers" / "dead_letters")
                wait_until(lambda: len(dict(dead.list())) == 4, timeout_s=30, what="dead letters")
                # what the killed worker had delivered was skipped by whoever took it over
                redelivered = lambda: sum(  # noqa: E731
                    metric(ports[i], "netcx_bus_redeliveries_total") or 0
                    for i in (0, 1, 2)
                    if (w0, w1, w2)[i] is not holder
                )
                wait_until(lambda: redelivered() >= 2, timeout_s=30, what="redeliveries skipped")
                assert other.poll() is None and w2.poll() is None  # bad input crashed no worker
        assert receiver.bad_signatures == 0
        # each id once: the ledger skipped what the killed worker had delivered (a trigger the
        # receiver acknowledged in the instant between its 2xx and the ledger write would come
        # again, with its idempotency key: at least once; the gate keeps that out of this test)
        assert receiver.duplicates == 0
        letters = dict(dead.list())
        assert {
            json.loads(letters[k])["idempotency_key"] for k in letters if k.startswith("tr_")
        } == (doomed)
        for k in doomed:
            assert receiver.attempts[k] >= 3  # every attempt, then the dead letter
        malformed = sorted(k for k in letters if k.startswith("malformed-"))
        assert sorted(letters[k] for k in malformed) == sorted(garbage)
        assert "503" in dead.error(next(k for k in letters if k.startswith("tr_")))
        logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("triggers*.log"))
        assert "malformed trigger dead-lettered" in logs
        assert MSISDN not in logs and "Traceback" not in logs

        # A replay of the whole topic in a new group over the same ledger sends nothing that
        # was delivered again, and delivers the formerly refused ones now the CVM takes them.
        receiver.always_fail.clear()
        before = dict(receiver.attempts)
        with worker(0, "replay"):
            wait_until(
                lambda: (
                    # every trigger but the refused ones, and the malformed records, seen before
                    metric(ports[0], "netcx_bus_redeliveries_total")
                    == N - len(doomed) + len(garbage)
                    and metric(ports[0], "netcx_bus_triggers_delivered_total") == len(doomed)
                ),
                timeout_s=60,
                what="replay skipped as redeliveries",
            )
        time.sleep(0.2)
        assert delivered() == set(keys)
        resent = {k for k, n in receiver.attempts.items() if n != before.get(k, 0)}
        assert resent == doomed
        # Replaying the dead letters sends nothing the group delivered since; the malformed
        # records stay for inspection without failing the replay.
        before = dict(receiver.attempts)
        replay = subprocess.run(
            [sys.executable, "-m", "netcx", "triggers", "replay", "--data", str(data)],
            env={**os.environ, **wenv},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert replay.returncode == 0, replay.stdout + replay.stderr
        assert "replayed 2 trigger(s); 0 still dead-lettered" in replay.stdout
        assert "2 malformed record(s) not replayed" in replay.stdout
        assert receiver.attempts == before and receiver.duplicates == 0
        assert all(k.startswith("malformed-") for k, _ in dead.list())


@pytest.mark.redis
def test_redis_streams_alternative_with_the_ledger_in_redis(tmp_path: Path) -> None:
    """Triggers on a Redis stream, two workers in one group, the delivered-trigger ledger in
    the online-state Redis: each trigger once; a replay group sends nothing again."""
    accounts = [treated_account(f"rs{i}_") for i in range(12)]
    with redis_server() as url, webhook_receiver(SECRET.encode()) as receiver:
        env = {
            **trigger_env("127.0.0.1:1", receiver),
            "NETCX_DECISIONS__TRIGGERS__BUS": "redis",
            "NETCX_DECISIONS__TRIGGERS__REDIS_URL": url,
            "NETCX_DECISIONS__TRIGGERS__REDIS_STREAM": "netcx-triggers-test",
            "NETCX_SCALE__ONLINE__STORE": "redis",
            "NETCX_SCALE__ONLINE__REDIS_URL": url,
        }
        settings = settings_from(env, tmp_path / "serve")
        service = build_decision_service(
            settings,
            build_pseudonymizer(settings),
            recognition=StaticRecognitionSource({a: line_visitor(a) for a in accounts}),
            intents=StaticIntentSource(
                {a: [ActiveIntent("churn_research", 0.9)] for a in accounts}
            ),
            facts=StaticFactsSource({a: mobile_facts() for a in accounts}),
        )
        keys = {
            f"{service.decide(channel='web', visitor_id=a).decision.decision_id}/cvm"
            for a in accounts
        }
        assert service.sink is not None and service.sink.flush(timeout_s=20)
        service.close()
        assert receiver.attempts == {}  # published to the stream, not delivered inline
        receiver.flaky = True
        wenv = {**env, "NETCX_STORAGE__DATA_DIR": str(tmp_path / "workers")}
        args = ["bus", "triggers", "--batch-size", "3"]
        with (
            netcx_process([*args, "--member", "a"], wenv, tmp_path / "a.log"),
            netcx_process([*args, "--member", "b"], wenv, tmp_path / "b.log"),
        ):
            wait_until(lambda: set(receiver.received) == keys, timeout_s=60, what="delivered")
        assert receiver.duplicates == 0 and receiver.bad_signatures == 0
        port = free_port()
        replay = [*args, "--group", "replay", "--metrics-port", str(port)]
        with netcx_process(replay, wenv, tmp_path / "replay.log"):
            wait_until(
                lambda: metric(port, "netcx_bus_redeliveries_total") == len(keys),
                timeout_s=60,
                what="replay skipped",
            )
        assert receiver.duplicates == 0
    outputs = {p.name: p.read_text() for p in tmp_path.glob("*.log")}
    assert "Traceback" not in "".join(outputs.values())
    delivered = [int(re.search(r"delivered=(\d+)", outputs[n])[1]) for n in ("a.log", "b.log")]  # type: ignore[index]
    assert sum(delivered) == len(keys) and all(delivered)  # both members took a share
