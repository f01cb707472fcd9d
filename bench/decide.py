"""Decide benchmark: in-process p50/p99 against a plain lookup, and HTTP p99 at a fixed
2 k req/s open-loop load against a raw ASGI app served the same way (granian, 1 worker).

Open loop: request k is due at t0 + k/rate whatever the answers; latency is measured from
that due time, so a slow server cannot slow the load down (no coordinated omission). The
load generator is a separate process speaking raw HTTP/1.1 over keep-alive sockets.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

RATE = 2000
DURATION_S = 10.0
WARMUP_S = 2.0
CONNECTIONS = 64
VISITORS = 2000
INTENTS = [
    "churn_research",
    "upgrade",
    "roaming",
    "tariff_comparison",
    "fibre_availability",
    "outage",
    "billing_problem",
    "device_compatibility",
]


def visitors() -> dict[str, Any]:
    from tests.integration.decisions.fake_app import Visitor
    from tests.unit.decisions.helpers import line_visitor, mobile_facts, outage

    from netcx.domain.decisions.context import ActiveIntent, RecognitionState

    out = {}
    for i in range(VISITORS):
        state = RecognitionState.ANONYMOUS if i % 5 == 0 else RecognitionState.NETWORK_LINE
        out[f"v{i}"] = Visitor(
            recognition=line_visitor(f"ac1_b{i}", state=state),
            intents=[
                ActiveIntent(INTENTS[i % 8], 0.8, ("/page",)),
                ActiveIntent(INTENTS[(i // 8) % 8], 0.5, ("/other",)),
            ],
            facts=mobile_facts(outage=outage() if i % 3 == 0 else None),
        )
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# ---------------------------------------------------------------- in-process

INPROCESS_DECISIONS = 40_000


def service(sink: Any, log: Any = None) -> Any:
    """A decide service over static sources (no identity/intent work), with `sink` and `log`
    (default: the in-memory log)."""
    from netcx.adapters.decisions.memory_log import MemoryDecisionLog
    from netcx.adapters.decisions.memory_sources import (
        StaticFactsSource,
        StaticIntentSource,
        StaticRecognitionSource,
    )
    from netcx.domain.pseudonyms import Pseudonymizer
    from netcx.services.decisions import DecisionService, load_policy_file

    vs = visitors()
    clock = iter(range(1_780_000_000_000, 1_900_000_000_000, 50))
    return DecisionService(
        policy=load_policy_file(None),
        recognition=StaticRecognitionSource({k: v.recognition for k, v in vs.items()}),
        intents=StaticIntentSource({k: v.intents for k, v in vs.items()}),
        facts=StaticFactsSource({v.recognition.account_id: v.facts for v in vs.values()}),
        log=log if log is not None else MemoryDecisionLog(),
        sink=sink,
        pseudonymizer=Pseudonymizer({"k1": b"bench"}, "k1"),
        destination="cvm",
        clock_ms=lambda: next(clock),
    )


def bench_webhook_hanging() -> dict[str, float]:
    """In-process decide while the CVM webhook accepts connections and never answers."""
    from tests.integration.decisions.servers import webhook_receiver

    from netcx.adapters.triggers.dead_letters import FolderDeadLetterStore
    from netcx.adapters.triggers.queue import QueuedTriggerSink
    from netcx.adapters.triggers.webhook import WebhookTransport

    with webhook_receiver(b"bench") as rx, tempfile.TemporaryDirectory() as tmp:
        rx.hang_s = 3.0
        sink = QueuedTriggerSink(
            WebhookTransport(rx.url, b"bench", timeout_s=2.0),
            FolderDeadLetterStore(Path(tmp)),
            name="webhook",
        )
        svc = service(sink)
        lat = []
        for k in range(10_000):
            t0 = time.perf_counter_ns()
            svc.decide(channel="web", visitor_id=f"v{k % VISITORS}", session_id=f"s{k}")
            lat.append((time.perf_counter_ns() - t0) / 1000)
        stuck = not sink.flush(timeout_s=0.1)
        rx.hang_s = 0.0
        sink.close()
    lat.sort()
    assert stuck, "the webhook was supposed to hang"
    return {
        "decide.inprocess_p50_us_webhook_hanging": percentile(lat, 0.5),
        "decide.inprocess_p99_us_webhook_hanging": percentile(lat, 0.99),
    }


def bench_inprocess() -> dict[str, float]:
    """The decide call with the in-memory log, and with the embedded SQLite log that
    `netcx serve` uses by default (appends queued for its writer thread)."""
    from netcx.adapters.decisions.memory_log import MemoryDecisionLog
    from netcx.adapters.decisions.sqlite_log import SqliteDecisionLog

    numbers = _bench_inprocess(MemoryDecisionLog(), "decide.inprocess")
    with tempfile.TemporaryDirectory() as tmp:
        log = SqliteDecisionLog(Path(tmp) / "decisions.sqlite")
        try:
            numbers |= _bench_inprocess(log, "decide.inprocess_sqlite_log")
        finally:
            log.close()
    return numbers


def bench_inprocess_pg_log() -> dict[str, float]:
    """The decide call with the PostgreSQL decision log (write-behind: appends queued for its
    sync thread), with the server up and while it is stopped; every decision must land."""
    from tests.servers import POSTGRES_BIN, postgres_server

    from netcx.adapters.decisions.postgres_log import PostgresDecisionLog
    from netcx.adapters.storage._postgres import Postgres

    if not (POSTGRES_BIN / "postgres").exists():
        print(f"no PostgreSQL in {POSTGRES_BIN}: the PostgreSQL log variant is skipped")
        return {}
    with postgres_server() as server:
        db = Postgres(server.url, pool_size=2)
        db.migrate()
        log = PostgresDecisionLog(db)
        try:
            numbers = _bench_inprocess(log, "decide.inprocess_pg_log")
            server.stop()
            numbers |= _bench_inprocess(log, "decide.inprocess_pg_log_down", flush=False)
            server.start()
        finally:
            log.close()
        check = Postgres(server.url, pool_size=1)
        try:
            row = check.run(
                "count", lambda c: c.execute("SELECT count(*) FROM decisions").fetchone()
            )
        finally:
            check.close()
    stored = int(row[0]) if row else 0
    assert stored == 2 * INPROCESS_DECISIONS, f"{stored} of {2 * INPROCESS_DECISIONS} stored"
    return numbers


def _bench_inprocess(log: Any, prefix: str, *, flush: bool = True) -> dict[str, float]:
    from netcx.adapters.triggers.memory import MemoryTriggerSink

    vs = visitors()
    svc = service(MemoryTriggerSink(), log)
    # Baseline: the naive alternative, a dict from top intent to a fixed experience.
    table = {name: f"exp_{name}" for name in INTENTS}
    intents_of = {k: v.intents for k, v in vs.items()}

    def lookup(visitor: str) -> str:
        top = max(intents_of[visitor], key=lambda i: i.score)
        return table[top.name]

    names = list(vs)
    n = INPROCESS_DECISIONS
    ours: list[float] = []
    base: list[float] = []
    perf = time.perf_counter_ns
    cpu0 = time.process_time()  # includes the log's writer thread
    for k in range(n):
        v = names[k % len(names)]
        t0 = perf()
        svc.decide(channel="web", visitor_id=v, session_id=f"s{k}")
        t1 = perf()
        lookup(v)
        t2 = perf()
        ours.append((t1 - t0) / 1000)
        base.append((t2 - t1) / 1000)
    if flush and hasattr(log, "flush"):
        log.flush()  # the write-behind's cost belongs to these decisions
    cpu_us = (time.process_time() - cpu0) * 1e6 / n
    ours.sort()
    base.sort()
    return {
        f"{prefix}_cpu_us_per_decision": cpu_us,
        f"{prefix}_p50_us": percentile(ours, 0.5),
        f"{prefix}_p99_us": percentile(ours, 0.99),
        f"{prefix}_lookup_p99_us": percentile(base, 0.99),
        f"{prefix}_vs_lookup": percentile(ours, 0.99) / percentile(base, 0.99),
    }


# ---------------------------------------------------------------- open-loop HTTP load


async def _load(
    host: str, port: int, bodies: list[bytes], rate: float, duration_s: float, warmup_s: float
) -> dict[str, Any]:
    total = int(rate * (warmup_s + duration_s))
    requests = [
        b"POST /v1/decide HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(b)}\r\n\r\n".encode()
        + b
        for b in bodies
    ]
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.2

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        for k in counter:
            due = t0 + k / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(requests[k % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            if k >= rate * warmup_s:
                latencies.append(loop.time() - due)
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": latencies[-1] * 1000,
        "sent": total,
        "errors": errors,
        "achieved_rps": total / elapsed,
    }


def server_cpu_s(port: int) -> float:
    """CPU seconds used so far by the granian server on `port` and its worker processes."""
    stats = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(proc.name)] = (cmd, int(fields[1]), int(fields[11]) + int(fields[12]))
    roots = {
        p for p, (cmd, _, _) in stats.items() if str(port).encode() in cmd and b"granian" in cmd
    }
    family = set(roots)
    for p, (_, ppid, _) in stats.items():
        if ppid in roots:
            family.add(p)
    return sum(stats[p][2] for p in family) / os.sysconf("SC_CLK_TCK")


def run_load(port: int, bodies: list[bytes]) -> dict[str, Any]:
    """The generator runs in its own process so it does not share a GIL with anything.
    Also reports the server's CPU per request: on a shared machine, latency under load
    depends on what else runs; CPU per request does much less."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(json.dumps([b.decode() for b in bodies]).encode())
    try:
        cpu0 = server_cpu_s(port)
        out = subprocess.run(
            [sys.executable, __file__, "load", str(port), f.name],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        cpu = server_cpu_s(port) - cpu0
    finally:
        Path(f.name).unlink()
    result = dict(json.loads(out.stdout))
    result["cpu_us_per_request"] = cpu / result["sent"] * 1e6
    return result


def raw_asgi_app() -> Any:
    """Baseline: reads the body and answers a fixed decide-sized JSON, no framework."""
    body = json.dumps(
        {
            "decision_id": "dc_0",
            "experiences": [{"id": "x" * 40}] * 2,
            "holdout": False,
            "pad": "y" * 600,
        }
    ).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        path_ok = scope["path"] in ("/v1/decide", "/healthz")
        await send(
            {
                "type": "http.response.start",
                "status": 200 if path_ok else 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def bench_http() -> dict[str, float]:
    from tests.integration.decisions.fake_app import fake_server

    vs = visitors()
    bodies = [
        json.dumps(
            {
                "visitor_id": v,
                "session_id": f"s{i}",
                "channel": "web",
                "event": {"type": "page", "url": "/help/cancel"},
            }
        ).encode()
        for i, v in enumerate(vs)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        env = {"NETCX_DECISIONS__TRIGGERS__SINK": "memory"}
        with fake_server(vs, Path(tmp) / "netcx", env) as base:
            ours = run_load(int(base.rsplit(":", 1)[1]), bodies)
        with fake_server(
            vs,
            Path(tmp) / "raw",
            target="decide:raw_asgi_app",
            env={"PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"},
        ) as base:
            raw = run_load(int(base.rsplit(":", 1)[1]), bodies)
    print(f"  netcx  /v1/decide: {json.dumps(ours)}")
    print(f"  raw ASGI baseline: {json.dumps(raw)}")
    return {
        "decide.http_p50_ms": ours["p50_ms"],
        "decide.http_p99_ms": ours["p99_ms"],
        "decide.http_achieved_rps": ours["achieved_rps"],
        "decide.http_errors": ours["errors"],
        "decide.raw_asgi_p99_ms": raw["p99_ms"],
        "decide.http_cpu_us_per_request": ours["cpu_us_per_request"],
        "decide.raw_asgi_cpu_us_per_request": raw["cpu_us_per_request"],
        "decide.load_average_1m": os.getloadavg()[0],
        "decide.http_vs_raw_asgi": ours["p99_ms"] / raw["p99_ms"],
    }


def main() -> None:
    from _results import record

    numbers = bench_inprocess()
    print(
        f"in-process decide: p50 {numbers['decide.inprocess_p50_us']:.1f} µs, "
        f"p99 {numbers['decide.inprocess_p99_us']:.1f} µs (goal ≤ 100 µs); "
        f"{numbers['decide.inprocess_vs_lookup']:.1f}× a plain intent→experience lookup; "
        f"with the SQLite log p50 {numbers['decide.inprocess_sqlite_log_p50_us']:.1f} µs, "
        f"p99 {numbers['decide.inprocess_sqlite_log_p99_us']:.1f} µs"
    )
    pg = bench_inprocess_pg_log()
    if pg:
        print(
            f"in-process decide with the PostgreSQL log: p50 "
            f"{pg['decide.inprocess_pg_log_p50_us']:.1f} µs, p99 "
            f"{pg['decide.inprocess_pg_log_p99_us']:.1f} µs; while PostgreSQL is down p50 "
            f"{pg['decide.inprocess_pg_log_down_p50_us']:.1f} µs, p99 "
            f"{pg['decide.inprocess_pg_log_down_p99_us']:.1f} µs"
        )
    numbers |= pg
    numbers |= bench_webhook_hanging()
    print(
        "in-process decide while the webhook hangs: p50 "
        f"{numbers['decide.inprocess_p50_us_webhook_hanging']:.1f} µs, p99 "
        f"{numbers['decide.inprocess_p99_us_webhook_hanging']:.1f} µs"
    )
    numbers |= bench_http()
    print(
        f"HTTP decide at {RATE} req/s open loop: p50 {numbers['decide.http_p50_ms']:.2f} ms, "
        f"p99 {numbers['decide.http_p99_ms']:.2f} ms (goal ≤ 5 ms); raw ASGI p99 "
        f"{numbers['decide.raw_asgi_p99_ms']:.2f} ms; ratio "
        f"{numbers['decide.http_vs_raw_asgi']:.2f}×; server CPU per request "
        f"{numbers['decide.http_cpu_us_per_request']:.0f} µs vs raw "
        f"{numbers['decide.raw_asgi_cpu_us_per_request']:.0f} µs; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    record(numbers)


if __name__ == "__main__":
    if sys.argv[1:] in (["--help"], ["-h"]):
        print(__doc__.strip())
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        port, path = int(sys.argv[2]), sys.argv[3]
        loaded = [b.encode() for b in json.loads(Path(path).read_text())]
        print(json.dumps(asyncio.run(_load("127.0.0.1", port, loaded, RATE, DURATION_S, WARMUP_S))))
    else:
        os.chdir(ROOT)
        main()
