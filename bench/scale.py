"""Scale-out unit costs: events/s through collector log → forwarder → Kafka-protocol broker →
resolve workers (1 and 2 worker processes), Redis bytes per binding, hot-set lookups/s, and
the Spark vs DuckDB batch resolver on the same data.

Ratios: 2 workers ÷ 1 worker (same events, same broker); Spark seconds ÷ DuckDB seconds.
The numbers feed docs/scaling.md. Every server is real and started here (Tansu, Redis).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._batch_engines import batch_times
from bench._results import record
from tests.servers import free_port, kafka_broker, redis_server, stop

from netcx.adapters.storage._redis import client
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.adapters.storage.redis_online import RedisBindingHotSet
from netcx.adapters.storage.static_bindings import StaticBinding
from netcx.domain.events import ClientAddress, Event, Recognition, Source
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.domain.resolution import Level

EVENTS = 20_000
ADDRESSES = 500
BLOCKS_PER_ADDRESS = 31  # 64512 ports in blocks of 2016 (the deterministic NAT default)
BLOCK = 2016
P = Pseudonymizer({"k1": b"netcx-dev-key-change-me"}, "k1")


def bindings() -> list[StaticBinding]:
    return [
        StaticBinding(
            f"203.0.{a // 250}.{a % 250}",
            Level.LINE,
            1024 + b * BLOCK,
            1024 + (b + 1) * BLOCK - 1,
            0,
            None,
            0.99,
            line_id=f"L{a}-{b}",
            subscriber_id=f"S{a}-{b}",
            household_id=f"H{a}-{b}",
            account_id=f"A{a}-{b}",
        )
        for a in range(ADDRESSES)
        for b in range(BLOCKS_PER_ADDRESS)
    ]


def hot_set_costs(url: str) -> dict[str, float]:
    r = client(url)
    hot = RedisBindingHotSet(r, P, prefix="costs")
    all_bindings = bindings()
    hot.put(all_bindings)
    used = sum(hot.memory_usage(f"203.0.{a // 250}.{a % 250}") for a in range(ADDRESSES))
    rng = random.Random(1)
    probes = [
        (f"203.0.{a // 250}.{a % 250}", rng.randint(1024, 1024 + BLOCKS_PER_ADDRESS * BLOCK - 1))
        for a in (rng.randrange(ADDRESSES) for _ in range(5000))
    ]
    r.config_resetstat()
    t0 = time.process_time()
    w0 = time.perf_counter()
    for ip, port in probes:
        assert hot.resolve(ip, port, 1000).level is Level.LINE
    cpu_s = time.process_time() - t0
    wall_s = time.perf_counter() - w0
    # Redis's own CPU per lookup (one HGETALL), from its command statistics
    usec_per_lookup = float(r.info("commandstats")["cmdstat_hgetall"]["usec_per_call"])
    r.close()
    return {
        "scale.redis_bytes_per_binding": used / len(all_bindings),
        # the worker's own CPU per lookup (Redis's round trip is not this process's core)
        "scale.hot_set_lookups_per_s_core": len(probes) / cpu_s,
        "scale.hot_set_lookups_per_s_wall": len(probes) / wall_s,
        "scale.redis_lookups_per_s_core": 1e6 / usec_per_lookup,
    }


def fill_log(directory: Path) -> None:
    rng = random.Random(2)
    log = SegmentEventLog(directory, fsync="never")

    async def run() -> None:
        for start in range(0, EVENTS, 500):
            events = []
            for i in range(start, start + 500):
                a = rng.randrange(ADDRESSES)
                port = rng.randint(1024, 1024 + BLOCKS_PER_ADDRESS * BLOCK - 1)
                events.append(
                    Event(
                        Source.SEGMENT,
                        f"m{i:08d}",
                        "page",
                        received_ms=1_000 + i,
                        visitor_id=f"v{i % 5000}",
                        client=ClientAddress(f"203.0.{a // 250}.{a % 250}", port),
                    )
                )
            await log.append(events)
            await log.record_recognitions([(e, Recognition.anonymous("bench")) for e in events])

    asyncio.run(run())
    log.close()


def pipeline_rate(workers: int, bootstrap: str, redis_url: str, data: Path) -> float:
    """Events/s resolved by `workers` worker processes draining the same log via the broker."""
    prefix = f"w{workers}"
    r = client(redis_url)
    RedisBindingHotSet(r, P, prefix=prefix).put(bindings())
    counter = f"{prefix}:{{counters}}:events_resolved"
    env = {
        **os.environ,
        "NETCX_SCALE__BUS__BACKEND": "kafka",
        "NETCX_SCALE__BUS__KAFKA_BOOTSTRAP": bootstrap,
        "NETCX_SCALE__BUS__TOPIC": f"bench{workers}",
        "NETCX_SCALE__BUS__PARTITIONS": "6",
        "NETCX_SCALE__ONLINE__STORE": "redis",
        "NETCX_SCALE__ONLINE__REDIS_URL": redis_url,
        "NETCX_SCALE__ONLINE__REDIS_PREFIX": prefix,
    }
    (data / "events" / "forwarded.json").unlink(missing_ok=True)
    netcx = [sys.executable, "-m", "netcx", "bus"]
    procs = [
        subprocess.Popen(
            [*netcx, "resolve", "--group", f"g{workers}", "--member", f"m{i}"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    forwarder = subprocess.Popen(
        [*netcx, "forward", "--data", str(data)], env=env, stdout=subprocess.DEVNULL
    )
    try:
        samples: list[tuple[float, int]] = []
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            n = int(r.get(counter) or 0)
            samples.append((time.perf_counter(), n))
            if n >= EVENTS:
                break
            time.sleep(0.05)
    finally:
        for p in [forwarder, *procs]:
            stop(p)
        r.close()
    # steady state: from 10 % to 100 % of the events
    t_start, n_start = next(s for s in samples if s[1] >= EVENTS // 10)
    t_end, n_end = samples[-1]
    if n_end < EVENTS:
        raise RuntimeError(f"only {n_end} of {EVENTS} events resolved")
    return (n_end - n_start) / (t_end - t_start)


def main() -> None:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    numbers: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        data = Path(tmp) / "data"
        numbers |= hot_set_costs(redis_url)
        print({k: round(v, 1) for k, v in numbers.items()}, flush=True)
        fill_log(data / "events")
        with kafka_broker(free_port()) as bootstrap:
            numbers["scale.events_per_s_1w"] = pipeline_rate(1, bootstrap, redis_url, data)
            print("1 worker:", round(numbers["scale.events_per_s_1w"]), "events/s", flush=True)
            numbers["scale.events_per_s_2w"] = pipeline_rate(2, bootstrap, redis_url, data)
            print("2 workers:", round(numbers["scale.events_per_s_2w"]), "events/s", flush=True)
        numbers["scale.events_2w_vs_1w"] = (
            numbers["scale.events_per_s_2w"] / numbers["scale.events_per_s_1w"]
        )
        record(numbers)
        numbers |= batch_times(Path(tmp) / "batch")
    record(numbers)
    for k, v in sorted(numbers.items()):
        print(f"{k} = {v:.3f}")
    print(
        f"ratio 2w/1w = {numbers['scale.events_2w_vs_1w']:.2f}; "
        f"spark/duckdb = {numbers.get('scale.spark_vs_duckdb', float('nan')):.2f}"
    )


if __name__ == "__main__":
    main()
