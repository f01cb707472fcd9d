"""Scale-out test helpers: bus worker processes, event senders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.integration.collect.conftest import WRITE_KEY
from tests.servers import stop

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
