"""Real radclient load on `netcx radius`: every answered record survives SIGKILL, exactly once."""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.radclient]
SECRET = "s3cr3t"
N = 1500


def write_requests(path: Path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(f'Acct-Status-Type = Start\nAcct-Session-Id = "K{i}"\n'
                    f'Calling-Station-Id = "4477{i:08d}"\nNAS-IP-Address = 192.0.2.20\n'
                    f"Framed-IP-Address = 100.64.{i // 256}.{i % 256}\n"
                    f"Event-Timestamp = {1718000000 + i}\n\n")  # fmt: skip


@contextmanager
def listener(data: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "netcx", "radius", "--port", str(port), "--secret", SECRET,
         "--data", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NETCX_RADIUS__FSYNC": "true"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "listener on" in proc.stdout.readline()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def radclient(port: int, requests: Path) -> subprocess.CompletedProcess[str]:
    """All of `requests` in parallel; exit 0 only if every one was answered."""
    return subprocess.run(
        ["radclient", "-q", "-s", "-r", "3", "-t", "2", "-p", str(N), "-f", str(requests),
         f"127.0.0.1:{port}", "acct", SECRET],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def stored_sessions(data: Path) -> collections.Counter[str]:
    files = (data / "network" / "accounting").glob("*.jsonl")
    return collections.Counter(
        json.loads(line)["session_id"] for f in files for line in f.read_text().splitlines()
    )


def test_answered_records_survive_sigkill_and_resends_after_restart_are_stored_once(
    tmp_path: Path,
) -> None:
    requests, data = tmp_path / "requests.txt", tmp_path / "data"
    write_requests(requests, N)
    port = free_port(socket.SOCK_DGRAM)
    with listener(data, port) as proc:
        sent = radclient(port, requests)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert f"Accepted      : {N}" in sent.stdout
        proc.send_signal(signal.SIGKILL)  # no clean shutdown: only what was durable remains
        proc.wait(10)
    stored = stored_sessions(data)
    assert stored == collections.Counter({f"K{i}": 1 for i in range(N)})

    # the NAS sends the whole batch again (answers lost): acknowledged, stored once
    with listener(data, port) as proc:
        again = radclient(port, requests)
        assert again.returncode == 0, again.stdout + again.stderr
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    stats = json.loads(out.strip().splitlines()[-1])
    assert (stats["accepted"], stats["duplicates"], stats["stored"]) == (N, N, 0)
    assert stored_sessions(data) == stored
