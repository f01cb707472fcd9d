"""A collector (`netcx serve`) as a real process whose output and PID the tests can inspect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from tests.servers import free_port, stop, wait_until

WRITE_KEY = "wk-test-1"


@dataclass
class Served:
    base: str
    proc: subprocess.Popen[bytes]
    output: Path  # the server's stdout + stderr

    def kill(self) -> None:
        """SIGKILL the server and its worker at once: no shutdown code runs."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@contextmanager
def collector(
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    workers: int = 1,
) -> Iterator[Served]:
    """`netcx serve` on a free port with a test write key; always stopped and reaped."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    output = data_dir.parent / f"serve-{port}.log"
    full_env = {
        **os.environ,
        "NETCX_HTTP__WRITE_KEYS": json.dumps([WRITE_KEY, "wk-test-2"]),
        **(env or {}),
    }
    with output.open("ab") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "netcx", "serve", "--port", str(port)),
                *("--data", str(data_dir), "--workers", str(workers)),
            ],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # granian runs the app in a child process: a session lets kill() take both.
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"netcx serve exited: {output.read_text()[-2000:]}")
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200

        wait_until(healthy, timeout_s=30, what="netcx serve")
        yield Served(base, proc, output)
    finally:
        stop(proc)


def events_count(data_dir: Path) -> dict[str, object]:
    """`netcx events count --json` run as a user would."""
    out = subprocess.run(
        [sys.executable, "-m", "netcx", "events", "count", "--data", str(data_dir), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def raw_records(events_dir: Path) -> Iterator[dict[str, Any]]:
    """Every intact record of the segment files, read straight from the format (u32 length,
    u32 crc32, msgpack) without the adapter's dedupe or merging; fillers skipped."""
    for seg in sorted(events_dir.glob("*.seg")):
        data, pos = seg.read_bytes(), 0
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos : pos + 4], "little")
            crc = int.from_bytes(data[pos + 4 : pos + 8], "little")
            payload = data[pos + 8 : pos + 8 + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            pos += 8 + length
            if payload[:1] != b"\xc1":  # a filler (erased bytes)
                yield msgspec.msgpack.decode(payload)
