"""Collector throughput over HTTP (wrk): single and batched events vs a raw ASGI 204 app.

Both servers run under granian (WORKERS processes) on this machine, one after the other, with the
same wrk load (2 threads, 64 connections). The collector does what it does in production:
it stores every event durably (segment log, fsync=always, group commit) and recognises it
(consent gate, resolution of the client address, identity graph, audit, intent scoring).
The raw app runs on both event loops granian offers here (asyncio, uvloop: `netcx serve`
runs uvloop), and each round's baseline is the faster of its two runs.
`NETCX_BENCH_RECOGNITION=follower` (the default here, `collect.recognition=follower`): the
workers store and answer, one recognition follower process recognises (except the batches
of 100, which their workers recognise: `collect.inline_batch_events`), replies wait while
it is more than `collect.follower_max_lag_bytes` behind; each rate is sustained — events
over the load *plus* the wait until the follower has recognised every one — and the CPU
includes the follower's. `=inline`: each worker recognises before its 2xx; recorded under
`collect.inline.*`. Events are page views of visitors from a pool of VISITORS who consented
to personalisation; each request carries new message ids, so nothing is skipped as a
duplicate. Batches of 100 come in two shapes: MIXED_VISITS visitors (a server-side library's
flush; `collect.batch_events_per_s`) and one visitor (a browser's or app's batch).
Server CPU per event is measured from /proc (the granian workers) as well as wall-clock
throughput, and the load average is recorded: the machine may be shared. Rounds
(NETCX_BENCH_ROUNDS, 5) interleave the four loads; rates are medians over rounds, and
`single_vs_raw_asgi` is the median of each round's ratio to that round's faster raw run.

`--ack-path` measures instead, in this process (no HTTP server, no wrk), the CPU of
everything on the request path except recognition: the netcx app's ASGI handling, decoding,
the durable append (segment log, fsync=always, group commit) and metrics, with a recognizer
that answers `anonymous` at once. It drives the same request shapes from 64 concurrent
callers and records `collect.ack_path_cpu_us_per_request_single`,
`collect.ack_path_cpu_us_per_event_batch` and `collect.ack_path_cpu_us_per_event_one_visitor`
(recognition's own CPU: bench/collect_cpu.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from _results import help_or_run, record
from netcx.adapters.storage.eventlog_follower import unrecognised_bytes
from netcx.bootstrap import build_container
from netcx.config import load_settings
from netcx.domain.events import Event, Recognition
from netcx.entrypoints.gc_policy import tune_gc
from netcx.entrypoints.http.app import create_app
from netcx.services.collect import Collector

HERE = Path(__file__).parent
WRITE_KEY = "bench-key"
DURATION_S = int(os.environ.get("NETCX_BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("NETCX_BENCH_ROUNDS", "5"))
BATCH = 100
VISITORS = 2000
MIXED_VISITS = 10  # visitors per batch of a server-side library's flush
WORKERS = int(os.environ.get("NETCX_BENCH_WORKERS", "2"))  # one per core
RAW_LOOPS = ("asyncio", "uvloop")  # `netcx serve` runs uvloop; the raw app gets its best
# follower: workers store, one follower process recognises (the multi-worker setting);
# inline: each worker recognises before its 2xx
RECOGNITION = os.environ.get("NETCX_BENCH_RECOGNITION", "follower")

LUA = r"""
local tids = 0
function setup(thread)
  thread:set("tid", tids)
  tids = tids + 1
end
local n = 0
local path, run, batch, visits
function init(args)
  path, run, batch, visits = args[1], args[2], tonumber(args[3]), tonumber(args[4])
end
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "AUTH"}
local pages = {"tariffs", "tariffs/compare", "contract/cancel", "help/roaming", "shop/phones",
  "fibre/availability", "outage", "account/bill", "upgrade", "home"}
-- A visitor of a pool of VISITORS (web visitors come back), consent for personalisation
-- given, so every event goes through the consent gate, resolution, the identity graph,
-- the audit log and intent scoring.
local function message(id, visitor, i)
  local page = pages[(n + i) % #pages + 1]
  return '{"type":"page","anonymousId":"bench-visitor-' .. visitor .. '","name":"' .. page .. '",'
    .. '"messageId":"' .. id .. '","timestamp":"2026-11-27T10:00:00.000Z",'
    .. '"properties":{"url":"https://shop.example/' .. page .. '","title":"' .. page .. '"},'
    .. '"context":{"userAgent":"bench","consent":{"categoryPreferences":'
    .. '{"Analytics":true,"Functional":true}}}}'
end
function request()
  n = n + 1
  local id = run .. "-" .. tid .. "-" .. n
  local body
  if batch == 0 then
    body = message(id, (tid * 7919 + n) % VISITORS, 0)
  else
    -- A batch holds `visits` visitors' events: 1 for a browser's or app's batch, more for
    -- a server-side library's flush.
    local parts = {}
    local per = batch / visits
    for i = 1, batch do
      local visitor = (tid * 7919 + n * visits + math.floor((i - 1) / per)) % VISITORS
      parts[i] = message(id .. "-" .. i, visitor, i)
    end
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


def server_cpu_s(proc: subprocess.Popen[bytes]) -> tuple[float, float]:
    """CPU seconds used so far by the server's children: (granian workers, the recognition
    follower in follower mode)."""
    tasks = Path(f"/proc/{proc.pid}/task").iterdir()  # the follower's parent is a thread
    children = [pid for t in tasks for pid in (t / "children").read_text().split()]
    workers = follower = 0.0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if b"recognise" in Path(f"/proc/{pid}/cmdline").read_bytes():
            follower += cpu
        else:
            workers += cpu
    return workers, follower


def wrk_cpu_s() -> float:
    """CPU seconds of this process's finished children: the wrk runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(
    url: str, script: Path, path: str, run: str, batch: int, visits: int, seconds: int = DURATION_S
) -> float:
    """Requests per second that got a 2xx (wrk counts others separately: we require none)."""
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", str(script), url, "--",
         path, run, str(batch), str(visits)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{bad.group(1)} failed requests on {path}:\n{out}")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return float(m.group(1))


def drained_s(events_dir: Path | None) -> float:
    """Seconds until the recognition follower has handled everything stored (0 without
    one: inline recognition answered before each 2xx)."""
    if events_dir is None:
        return 0.0
    started = time.monotonic()
    while unrecognised_bytes(events_dir):
        if time.monotonic() - started > 300:
            raise RuntimeError("the recognition follower did not catch up within 300 s")
        time.sleep(0.01)
    return time.monotonic() - started


class Measured(NamedTuple):
    """One wrk run: requests/s; CPU seconds per request of the server (workers and
    follower), of the follower alone and of wrk; seconds the follower needed afterwards."""

    rps: float
    cpu: float
    follower_cpu: float
    wrk_cpu: float
    drain_s: float

    @property
    def cores_busy(self) -> float:
        """Cores the server and wrk kept busy on average (of the host's, during the run)."""
        return (self.cpu + self.wrk_cpu) * self.rps


def measure(
    proc: subprocess.Popen[bytes],
    url: str,
    script: Path,
    path: str,
    run: str,
    batch: int,
    visits: int = 1,
    events_dir: Path | None = None,
) -> Measured:
    """One wrk run. With a recognition follower (`events_dir`), the rate counts the wait
    until every stored event is recognised and the CPU includes the follower's: sustained,
    not just acknowledged."""
    (workers0, follower0), wrk0 = server_cpu_s(proc), wrk_cpu_s()
    rps = wrk(url, script, path, run, batch, visits)
    wrk1 = wrk_cpu_s()
    drain = drained_s(events_dir)
    workers1, follower1 = server_cpu_s(proc)
    n = rps * DURATION_S
    return Measured(
        n / (DURATION_S + drain),
        (workers1 - workers0 + follower1 - follower0) / n,
        (follower1 - follower0) / n,
        (wrk1 - wrk0) / n,
        drain,
    )


def median(runs: list[Measured]) -> Measured:
    return Measured(*(statistics.median(x) for x in zip(*runs, strict=True)))


def fmt_split(m: Measured, per: int) -> str:
    """Workers / follower / wrk CPU per event of a run."""
    workers = (m.cpu - m.follower_cpu) / per * 1e6
    return (
        f"workers {workers:.1f} + follower {m.follower_cpu / per * 1e6:.1f} us "
        f"(wrk {m.wrk_cpu / per * 1e6:.1f})"
    )


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run scripts/install-system-deps.sh")
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    with tempfile.TemporaryDirectory(prefix="netcx-bench-collect-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(LUA.replace("AUTH", auth).replace("VISITORS", str(VISITORS)))
        env = {
            **os.environ,
            "NETCX_HTTP__WRITE_KEYS": f'["{WRITE_KEY}"]',
            "NETCX_COLLECT__RECOGNITION": RECOGNITION,
        }
        events_dir = Path(tmp) / "data" / "events" if RECOGNITION == "follower" else None
        # The raw app on each event loop granian offers here: its baseline is the faster
        # (asyncio's on 11-28: the raw app itself is slower on uvloop).
        raws = {}
        for loop in RAW_LOOPS:
            port = free_port()
            raws[loop] = (
                start(
                    [sys.executable, "-m", "granian", "--interface", "asgi", "--host",
                     "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
                     "--no-access-log", "--loop", loop, "_raw_asgi:app"],
                    env, HERE, port,
                ),
                f"http://127.0.0.1:{port}",
            )  # fmt: skip
        netcx_port = free_port()
        netcx = start(
            [sys.executable, "-m", "netcx", "serve", "--port", str(netcx_port),
             "--workers", str(WORKERS), "--data", str(Path(tmp) / "data")],
            env, HERE, netcx_port,
        )  # fmt: skip
        base = f"http://127.0.0.1:{netcx_port}"
        raw_runs: dict[str, list[Measured]] = {loop: [] for loop in RAW_LOOPS}
        runs: dict[str, list[Measured]] = {
            "raw": [],  # each round's faster raw run
            "single": [],
            "batch": [],
            "browser": [],
        }
        try:
            # Every visitor of the pool comes once before measuring: steady state, not the
            # first visit's consent records.
            wrk(base, script, "/v1/batch", "w", BATCH, MIXED_VISITS, seconds=2)
            wrk(base, script, "/v1/page", "w", 0, 1, seconds=2)
            drained_s(events_dir)
            load = os.getloadavg()
            # Interleaved rounds: the machine is shared, so load from others hits all three.
            for n in range(ROUNDS):
                for loop, (proc, url) in raws.items():
                    raw_runs[loop].append(measure(proc, url, script, "/v1/page", f"r{loop}{n}", 0))
                runs["raw"].append(max((r[-1] for r in raw_runs.values()), key=lambda m: m.rps))
                runs["single"].append(
                    measure(netcx, base, script, "/v1/page", f"s{n}", 0, 1, events_dir)
                )
                runs["batch"].append(
                    measure(
                        netcx, base, script, "/v1/batch", f"b{n}", BATCH, MIXED_VISITS, events_dir
                    )
                )
                runs["browser"].append(
                    measure(netcx, base, script, "/v1/batch", f"v{n}", BATCH, 1, events_dir)
                )
            metrics = httpx.get(f"{base}/metrics").text
        finally:
            for proc, _ in raws.values():
                stop(proc)
            stop(netcx)
    stored = float(
        re.search(r'^netcx_collect_events_total\{source="segment"\} ([\d.e+]+)$', metrics, re.M)[1]  # type: ignore[index]
    )
    raw, single, batch, browser = (median(runs[k]) for k in ("raw", "single", "batch", "browser"))
    # The ratio pairs each round's single-event run with the (faster) raw run before it, and
    # takes the median of those ratios: the host's speed drifts between rounds (by a fifth
    # on a busy day), and a ratio of medians would compare runs made at different speeds.
    pairs = list(zip(runs["raw"], runs["single"], strict=True))
    ratio = statistics.median(s.rps / r.rps for r, s in pairs)
    ratio_by_cpu = statistics.median(r.cpu / s.cpu for r, s in pairs)
    print(
        f"median of {ROUNDS} interleaved {DURATION_S}s rounds, wrk -t2 -c64, "
        f"{os.cpu_count()} CPUs, {WORKERS} granian worker(s) per server, "
        f"recognition {RECOGNITION}"
    )
    if events_dir is not None:
        print(
            "(collector rates are sustained: events over the load plus the wait until the "
            "follower had recognised every one; CPU includes the follower's)"
        )
    print(
        f"raw ASGI 204 app        : {raw.rps:9.0f} requests/s  {raw.cpu * 1e6:6.0f} us CPU/request"
        f"  (each round's faster loop; medians: "
        + ", ".join(f"{loop} {median(r).rps:.0f}/s" for loop, r in raw_runs.items())
        + ")"
    )
    print(
        f"collector single events : {single.rps:9.0f} events/s    {single.cpu * 1e6:6.0f} us CPU/ev"
        f"  ({ratio:.2f}x raw ASGI; {ratio_by_cpu:.2f}x by CPU; medians of the rounds' "
        f"ratios, which were {', '.join(f'{s.rps / r.rps:.2f}' for r, s in pairs)})"
    )
    print(
        f"batched, {MIXED_VISITS} visitors/{BATCH}: {batch.rps * BATCH:9.0f} events/s    "
        f"{batch.cpu / BATCH * 1e6:6.0f} us CPU/ev  ({batch.rps:.0f} requests/s)"
    )
    print(
        f"batched, 1 visitor/{BATCH} : {browser.rps * BATCH:9.0f} events/s    "
        f"{browser.cpu / BATCH * 1e6:6.0f} us CPU/ev  ({browser.rps:.0f} requests/s)"
    )
    print(
        f"events durably stored   : {stored:9.0f} by the worker that answered /metrics "
        "(segment log, fsync=always, group commit)"
    )
    print(
        f"CPU per event, by process: single {fmt_split(single, 1)}; batch "
        f"{fmt_split(batch, BATCH)}; 1-visitor batch {fmt_split(browser, BATCH)}; "
        f"raw app: wrk {raw.wrk_cpu * 1e6:.1f} us/request"
    )
    busy = {k: statistics.median(m.cores_busy for m in v) for k, v in runs.items()}
    print(
        f"cores busy (server + wrk): raw {busy['raw']:.2f}, single {busy['single']:.2f}, "
        f"batch {busy['batch']:.2f}, 1-visitor batch {busy['browser']:.2f} "
        f"of {os.cpu_count()} (medians of the rounds)"
    )
    if events_dir is not None:
        print(
            f"follower caught up      : {single.drain_s:.2f} / {batch.drain_s:.2f} / "
            f"{browser.drain_s:.2f} s after the load stopped (single / batch / 1-visitor batch)"
        )
    else:
        levels = dict(
            re.findall(
                r'^netcx_collect_recognised_events_total\{level="(\w+)"\} ([\d.e+]+)$',
                metrics,
                re.M,
            )
        )
        print(
            "recognised, by level    : "
            + ", ".join(f"{level} {float(n):.0f}" for level, n in sorted(levels.items()))
            + " (same worker; `pending`: not recognised)"
        )
    print(f"load average            : {load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    # The recognition mode netcx recommends for several workers is the headline; the other
    # mode's figures are kept beside it under `collect.inline.*`.
    prefix = "collect." if RECOGNITION == "follower" else "collect.inline."
    numbers = {
        "single_events_per_s": single.rps,
        "batch_events_per_s": batch.rps * BATCH,
        "single_vs_raw_asgi": ratio,
        "single_vs_raw_asgi_by_cpu": ratio_by_cpu,
        "raw_asgi_requests_per_s": raw.rps,
        **{f"raw_asgi_{loop}_requests_per_s": median(r).rps for loop, r in raw_runs.items()},
        "single_server_cpu_us_per_event": single.cpu * 1e6,
        "batch_server_cpu_us_per_event": batch.cpu / BATCH * 1e6,
        "batch_one_visitor_events_per_s": browser.rps * BATCH,
        "batch_one_visitor_server_cpu_us_per_event": browser.cpu / BATCH * 1e6,
        "load_average_1m": load[0],
        "follower_drain_s_single": single.drain_s,
        "single_follower_cpu_us_per_event": single.follower_cpu * 1e6,
        "batch_follower_cpu_us_per_event": batch.follower_cpu / BATCH * 1e6,
        "batch_one_visitor_follower_cpu_us_per_event": browser.follower_cpu / BATCH * 1e6,
        "single_wrk_cpu_us_per_request": single.wrk_cpu * 1e6,
        "raw_asgi_wrk_cpu_us_per_request": raw.wrk_cpu * 1e6,
        "follower_drain_s_batch": batch.drain_s,
        "raw_asgi_cores_busy": busy["raw"],
        "single_cores_busy": busy["single"],
        "batch_cores_busy": busy["batch"],
        "batch_one_visitor_cores_busy": busy["browser"],
    }
    if events_dir is None:
        numbers = {k: v for k, v in numbers.items() if "follower" not in k}
    record({prefix + k: v for k, v in numbers.items()})


PAGES = ["tariffs", "tariffs/compare", "contract/cancel", "help/roaming", "shop/phones",
         "fibre/availability", "outage", "account/bill", "upgrade", "home"]  # fmt: skip
ACK_CALLERS = 64
ACK_REQUESTS = {"single": 12_800, "batch": 640, "browser": 640}


def ack_message(event_id: str, visitor: int, n: int) -> dict[str, Any]:
    """The page event LUA sends."""
    page = PAGES[n % len(PAGES)]
    return {
        "type": "page", "anonymousId": f"bench-visitor-{visitor}", "name": page,
        "messageId": event_id, "timestamp": "2026-11-27T10:00:00.000Z",
        "properties": {"url": f"https://shop.example/{page}", "title": page},
        "context": {"userAgent": "bench",
                    "consent": {"categoryPreferences": {"Analytics": True, "Functional": True}}},
    }  # fmt: skip


def ack_body(mode: str, run: str, caller: int, n: int) -> tuple[str, bytes]:
    """(path, body) of request `n` of `caller`, shaped as LUA's for the same mode."""
    base = f"{run}-{caller}-{n}"
    if mode == "single":
        return "/v1/page", json.dumps(ack_message(base, (caller * 7919 + n) % VISITORS, n)).encode()
    visits = MIXED_VISITS if mode == "batch" else 1
    per = BATCH // visits
    batch = [
        ack_message(f"{base}-{i}", (caller * 7919 + n * visits + (i - 1) // per) % VISITORS, i)
        for i in range(1, BATCH + 1)
    ]
    return "/v1/batch", json.dumps({"batch": batch}).encode()


class AnonymousRecognizer:
    """Answers at once: the ack path's cost without recognition's."""

    async def recognise_many(self, events: Sequence[Event]) -> list[Recognition]:
        return [Recognition.anonymous("bench")] * len(events)


def ack_path() -> None:
    auth = b"Basic " + base64.b64encode(f"{WRITE_KEY}:".encode())
    with tempfile.TemporaryDirectory(prefix="netcx-bench-ack-") as tmp:
        settings = load_settings(
            storage={"data_dir": tmp}, http={"write_keys": [WRITE_KEY]}, collect={"fsync": "always"}
        )
        container = build_container(settings)
        container.collector = Collector(container.event_log, AnonymousRecognizer())
        app = create_app(container)
        tune_gc()

        async def call(path: str, body: bytes, caller: int) -> None:
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                "query_string": b"", "root_path": "", "client": ("127.0.0.1", str(40000 + caller)),
                "server": ("127.0.0.1", 8080),
                "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                            (b"authorization", auth), (b"content-length", str(len(body)).encode())],
            }  # fmt: skip
            status: list[int] = []

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status.append(message["status"])

            await app(scope, receive, send)
            if status != [200]:
                raise RuntimeError(f"{path}: status {status}")

        async def drive(mode: str, run: str, requests: int) -> float:
            """CPU seconds per request of `requests` requests from ACK_CALLERS callers."""
            per = requests // ACK_CALLERS
            bodies = [[ack_body(mode, run, c, n) for n in range(per)] for c in range(ACK_CALLERS)]

            async def caller(c: int) -> None:
                for path, body in bodies[c]:
                    await call(path, body, c)

            started = time.process_time()
            await asyncio.gather(*(caller(c) for c in range(ACK_CALLERS)))
            return (time.process_time() - started) / (per * ACK_CALLERS)

        async def measure_all() -> dict[str, float]:
            out: dict[str, list[float]] = {mode: [] for mode in ACK_REQUESTS}
            for mode, requests in ACK_REQUESTS.items():  # warm: every visitor seen once
                await drive(mode, f"w{mode}", requests // 4)
            for n in range(ROUNDS):
                for mode, requests in ACK_REQUESTS.items():
                    out[mode].append(await drive(mode, f"{mode}{n}", requests))
            return {mode: statistics.median(v) for mode, v in out.items()}

        load = os.getloadavg()
        cpu = asyncio.run(measure_all())
        container.event_log.close()
    single, batch, browser = cpu["single"], cpu["batch"] / BATCH, cpu["browser"] / BATCH
    print(f"ack path (no recognition), in process, median of {ROUNDS} rounds, fsync=always:")
    print(f"single events           : {single * 1e6:6.1f} us CPU/request")
    print(f"batched, {MIXED_VISITS} visitors/{BATCH}: {batch * 1e6:6.1f} us CPU/event")
    print(f"batched, 1 visitor/{BATCH} : {browser * 1e6:6.1f} us CPU/event")
    print(f"load average            : {load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    record(
        {
            "collect.ack_path_cpu_us_per_request_single": single * 1e6,
            "collect.ack_path_cpu_us_per_event_batch": batch * 1e6,
            "collect.ack_path_cpu_us_per_event_one_visitor": browser * 1e6,
        }
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--ack-path"]:
        ack_path()
    else:
        help_or_run(__doc__)
        main()
