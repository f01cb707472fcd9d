"""Scale-out test helpers: bus worker processes, a restartable Redis, event senders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.integration.collect.conftest import WRITE_KEY
from tests.servers import free_port, stop, wait_until

CLIENT_IP = "198.18.0.7"
LINE = "L-100"


def bindings_file(folder: Path) -> Path:
    """One public address whose port block 1024-2047 belongs to line L-100."""
    path = folder / "bindings.json"
    path.write_text(
        json.dumps(
            [
                {
                    "ip": CLIENT_IP,
                    "port_lo": 1024,
                    "port_hi": 2047,
                    "level": "line",
                    "confidence": 0.97,
                    "line_id": LINE,
                    "household_id": "H-7",
                    "start_ms": 0,
                }
            ]
        )
    )
    return path


def collector_env() -> dict[str, str]:
    return {"NETCX_HTTP__TRUSTED_PROXIES": json.dumps(["127.0.0.0/8"])}


def send_events(base: str, first: int, n: int, batch: int = 25) -> list[str]:
    """POST n Segment track events from CLIENT_IP:1500 (via a trusted proxy); return the ids
    the collector acknowledged."""
    acked: list[str] = []
    with httpx.Client(base_url=base, auth=(WRITE_KEY, ""), timeout=10) as client:
        for start in range(first, first + n, batch):
            ids = [f"m{i:06d}" for i in range(start, min(start + batch, first + n))]
            body = {
                "batch": [
                    {"type": "track", "event": "Viewed", "messageId": i, "anonymousId": f"a{i}"}
                    for i in ids
                ]
            }
            r = client.post(
                "/v1/batch",
                json=body,
                headers={"X-Forwarded-For": CLIENT_IP, "X-Client-Port": "1500"},
            )
            if r.status_code == 200:
                acked += ids
    return acked


@contextmanager
def netcx_process(
    args: list[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A `netcx ...` worker process (forwarder, resolver); SIGTERM-ed and reaped after."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "netcx", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        stop(proc)


def metric(port: int, name: str) -> float | None:
    """One sample of a worker's Prometheus metrics (None when not served yet)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class RestartableRedis:
    """redis-server with an append-only file, so a restart keeps what was acknowledged."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = folder
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server") or "redis-server"
        self._proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self._dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ping() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                c.sendall(b"PING\r\n")
                return c.recv(16).startswith(b"+PONG")

        wait_until(ping, what="redis-server")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGTERM)  # SIGTERM: redis flushes the AOF and exits
            self._proc.wait(20)
            self._proc = None


@contextmanager
def restartable_redis() -> Iterator[RestartableRedis]:
    with tempfile.TemporaryDirectory() as tmp:
        r = RestartableRedis(Path(tmp))
        r.start()
        try:
            yield r
        finally:
            r.stop()
