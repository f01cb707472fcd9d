"""Real servers for the decisions tests: a flaky signed-webhook receiver and a Tansu broker."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from netcx.domain.decisions.triggers import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify
from tests.servers import free_port, kafka_broker


def planned_failures(key: str) -> int:
    """How many attempts of `key` the flaky receiver refuses before accepting (0, 1 or 2)."""
    return hashlib.sha256(key.encode()).digest()[0] % 3


class Receiver:
    """A CVM endpoint that verifies signatures, dedupes by idempotency key and fails sometimes.

    `flaky`: refuse the first planned_failures(key) attempts with 503; `always_fail`: keys
    refused every time (until cleared); `hang_s`: sleep before answering (an unreachable CVM).
    """

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.flaky = False
        self.always_fail: set[str] = set()
        self.hang_s = 0.0
        self.attempts: Counter[str] = Counter()
        self.received: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.url = ""

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        if self.hang_s:
            time.sleep(self.hang_s)
        if not verify(self.secret, headers.get(SIGNATURE_HEADER, ""), body, int(time.time())):
            with self.lock:
                self.bad_signatures += 1
            return 401
        key = headers.get(IDEMPOTENCY_HEADER, "")
        with self.lock:
            self.attempts[key] += 1
            attempt = self.attempts[key]
            if key in self.always_fail or (self.flaky and attempt <= planned_failures(key)):
                return 503
            if key in self.received:
                self.duplicates += 1
            else:
                self.received[key] = json.loads(body)
        return 200


@contextmanager
def webhook_receiver(secret: bytes, receiver: Receiver | None = None) -> Iterator[Receiver]:
    """Serve `receiver` (a new Receiver by default); `handle` also gets the sender's port
    as `x-peer-port`."""
    receiver = receiver or Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            headers["x-peer-port"] = str(self.client_address[1])
            status = receiver.handle(headers, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/netcx"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def tansu_broker(topic: str, partitions: int = 3) -> Iterator[str]:
    """The shared Tansu broker (`tests.servers.kafka_broker`) with `topic` created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    with kafka_broker() as bootstrap:

        async def create() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
            await admin.start()
            try:
                await admin.create_topics(
                    [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
                )
            finally:
                await admin.close()

        asyncio.run(create())
        yield bootstrap


def consume(bootstrap: str, topic: str, n: int, timeout_s: float = 20) -> list[Any]:
    """Read `n` records from the start of `topic` (all partitions)."""
    from aiokafka import AIOKafkaConsumer

    async def run() -> list[Any]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        out: list[Any] = []
        try:
            deadline = time.monotonic() + timeout_s
            while len(out) < n and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    out.extend(records)
        finally:
            await consumer.stop()
        return out

    return asyncio.run(run())
