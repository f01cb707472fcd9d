"""Collector throughput over HTTP (wrk): single and batched events vs a raw ASGI 204 app.

Both servers run under granian (1 worker) on this machine, one after the other, with the
same wrk load (2 threads, 64 connections). The collector stores every event durably
(segment log, fsync=always, group commit) before it answers; each request carries new
message ids, so nothing is skipped as a duplicate.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _results import record

HERE = Path(__file__).parent
WRITE_KEY = "bench-key"
DURATION_S = int(os.environ.get("NETCX_BENCH_SECONDS", "8"))
BATCH = 100

LUA = r"""
local tids = 0
function setup(thread)
  thread:set("tid", tids)
  tids = tids + 1
end
local n = 0
local path, run, batch
function init(args)
  path, run, batch = args[1], args[2], tonumber(args[3])
end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "AUTH"}
local function message(id)
  return '{"type":"track","userId":"u-' .. (n % 997) .. '","event":"Tariff Compared",'
    .. '"messageId":"' .. id .. '","timestamp":"2026-11-27T10:00:00.000Z",'
    .. '"properties":{"from":"S","to":"L","price":29.9},'
    .. '"context":{"page":{"url":"https://shop.example/tariffs"},"userAgent":"bench"}}'
end
function request()
  n = n + 1
  local id = run .. "-" .. tid .. "-" .. n
  local body
  if batch == 0 then
    body = message(id)
  else
    local parts = {}
    for i = 1, batch do parts[i] = message(id .. "-" .. i) end
    body = '{"batch":[' .. table.concat(parts, ",") .. ']}'
  end
  return wrk.format("POST", path, headers, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], cwd: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{cmd[:4]} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wrk(url: str, script: Path, path: str, run: str, batch: int) -> float:
    """Requests per second that got a 2xx (wrk counts others separately: we require none)."""
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{DURATION_S}s", "-s", str(script), url, "--",
         path, run, str(batch)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{bad.group(1)} failed requests on {path}:\n{out}")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return float(m.group(1))


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run scripts/install-system-deps.sh")
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    with tempfile.TemporaryDirectory(prefix="netcx-bench-collect-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(LUA.replace("AUTH", auth))
        env = {**os.environ, "NETCX_HTTP__WRITE_KEYS": f'["{WRITE_KEY}"]'}

        port = free_port()
        raw = start(
            [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--no-access-log", "_raw_asgi:app"],
            env, HERE, port,
        )  # fmt: skip
        try:
            raw_rps = wrk(f"http://127.0.0.1:{port}", script, "/v1/track", "raw", 0)
        finally:
            stop(raw)

        port = free_port()
        data = Path(tmp) / "data"
        netcx = start(
            [sys.executable, "-m", "netcx", "serve", "--port", str(port), "--data", str(data)],
            env, HERE, port,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            single_rps = wrk(base, script, "/v1/track", "single", 0)
            batch_rps = wrk(base, script, "/v1/batch", "batch", BATCH)
            metrics = httpx.get(f"{base}/metrics").text
        finally:
            stop(netcx)
        stored = sum(
            float(v)
            for v in re.findall(r'^netcx_collect_events_total\{source="segment"\} ([\d.e+]+)$',
                                metrics, re.M)
        )  # fmt: skip

    single_eps, batch_eps = single_rps, batch_rps * BATCH
    ratio = single_rps / raw_rps
    print(f"raw ASGI 204 app         : {raw_rps:10.0f} requests/s")
    print(f"collector single events  : {single_eps:10.0f} events/s ({ratio:.2f}x raw ASGI)")
    print(
        f"collector batched ({BATCH:>3})  : {batch_eps:10.0f} events/s ({batch_rps:.0f} requests/s)"
    )
    print(f"events durably stored    : {stored:10.0f} (fsync=always, {os.cpu_count()} cores)")
    record(
        {
            "collect.single_events_per_s": single_eps,
            "collect.batch_events_per_s": batch_eps,
            "collect.single_vs_raw_asgi": ratio,
            "collect.raw_asgi_requests_per_s": raw_rps,
        }
    )


if __name__ == "__main__":
    main()
