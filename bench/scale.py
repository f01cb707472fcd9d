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
from bench._results import help_or_run, record
from tests.servers import free_port, kafka_broker, metric, redis_server, stop

from netcx.adapters.storage._redis import client
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.adapters.storage.redis_online import RedisBindingHotSet
from netcx.adapters.storage.static_bindings import StaticBinding
from netcx.domain.events import ClientAddress, Event, Recognition, Source
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.domain.resolution import Level

EVENTS = 60_000
PARTITIONS = 6
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


_TICK_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK_S


def _children(name: str) -> list[int]:
    """PIDs of this process's children whose command is `name` (the broker, Redis)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, IndexError, ValueError):
            continue
        if comm.startswith(name[:15]) and int(rest.split()[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


def bus_env(bootstrap: str, redis_url: str, topic: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "NETCX_SCALE__BUS__BACKEND": "kafka",
        "NETCX_SCALE__BUS__KAFKA_BOOTSTRAP": bootstrap,
        "NETCX_SCALE__BUS__TOPIC": topic,
        "NETCX_SCALE__BUS__PARTITIONS": str(PARTITIONS),
        "NETCX_SCALE__ONLINE__STORE": "redis",
        "NETCX_SCALE__ONLINE__REDIS_URL": redis_url,
        "NETCX_SCALE__ONLINE__REDIS_PREFIX": prefix,
    }


NETCX_BUS = [sys.executable, "-m", "netcx", "bus"]


def metrics(port: int) -> list[str]:
    return ["--metrics-port", str(port)]


def _forward_once(data: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and output of one `netcx bus forward --once`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*NETCX_BUS, "forward", "--once", "--data", str(data)], env=env, stdout=subprocess.PIPE
    )
    out = proc.stdout.read().decode() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"forward --once failed ({proc.returncode}): {out}")
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime, out


def forward_rate(bootstrap: str, redis_url: str, data: Path, topic: str) -> dict[str, float]:
    """The forwarder alone: `netcx bus forward --once` puts the whole log on `topic`; its
    start-up (the same command on an empty log) is subtracted."""
    env = bus_env(bootstrap, redis_url, topic, "fwd")
    empty = data.parent / "empty"
    (empty / "events").mkdir(parents=True, exist_ok=True)
    start_wall_s, start_cpu_s, _ = _forward_once(empty, env)
    (data / "events" / "forwarded.json").unlink(missing_ok=True)
    wall_s, cpu_s, out = _forward_once(data, env)
    if f"forwarded={EVENTS}" not in out:
        raise RuntimeError(f"forward --once sent less than {EVENTS}: {out}")
    rate = EVENTS / (wall_s - start_wall_s)
    cpu_us = (cpu_s - start_cpu_s) * 1e6 / EVENTS
    print(f"forward --once: {rate:.0f} events/s, {cpu_us:.1f} CPU µs/event", flush=True)
    return {"scale.forward_events_per_s": rate, "scale.cpu_us_per_event_forward": cpu_us}


def pipeline_rate(
    workers: int, bootstrap: str, redis_url: str, data: Path, *, topic: str, forward: bool
) -> tuple[float, dict[str, float]]:
    """Events/s resolved by `workers` worker processes in one consumer group, and each
    process role's CPU µs per event over the same window. `forward`: the forwarder drains
    the collector's log onto `topic` meanwhile (end to end); else `topic` is already full
    (the resolve stage alone).

    The window opens once every worker has resolved an event (so the group's rebalance
    after the last join is over) and at least 10 % are done; it closes at the last event."""
    prefix = f"{topic}-{workers}w"
    r = client(redis_url)
    RedisBindingHotSet(r, P, prefix=prefix).put(bindings())
    counter = f"{prefix}:{{counters}}:events_resolved"
    env = bus_env(bootstrap, redis_url, topic, prefix)
    ports = [free_port() for _ in range(workers)]
    procs = [
        subprocess.Popen(
            [*NETCX_BUS, "resolve", "--group", prefix, "--member", f"m{i}", *metrics(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for i, port in enumerate(ports)
    ]
    roles: dict[str, list[int]] = {"worker": [p.pid for p in procs]}
    if forward:
        (data / "events" / "forwarded.json").unlink(missing_ok=True)
        forwarder = subprocess.Popen(
            [*NETCX_BUS, "forward", "--data", str(data)], env=env, stdout=subprocess.DEVNULL
        )
        procs.append(forwarder)
        roles["forwarder"] = [forwarder.pid]
    roles["broker"] = _children("tansu")
    roles["redis"] = _children("redis-server")

    def cpu() -> dict[str, float]:
        return {role: sum(_cpu_s(pid) for pid in pids) for role, pids in roles.items()}

    try:
        samples: list[tuple[float, int, dict[str, float]]] = []
        window_open = False
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if not window_open:
                each = [metric(port, "netcx_bus_events_resolved_total") or 0 for port in ports]
                window_open = min(each) > 0
            n = int(r.get(counter) or 0)
            if window_open:
                samples.append((time.perf_counter(), n, cpu()))
            if n >= EVENTS:
                break
            time.sleep(0.05)
    finally:
        for p in procs:
            stop(p)
        r.close()
    if not samples or samples[-1][1] < EVENTS:
        raise RuntimeError(f"not all {EVENTS} events resolved in time")
    t_start, n_start, cpu_start = next(s for s in samples if s[1] >= EVENTS // 10)
    t_end, n_end, cpu_end = samples[-1]
    events = n_end - n_start
    wall_s = t_end - t_start
    cpu_us = {role: (cpu_end[role] - cpu_start[role]) * 1e6 / events for role in roles}
    busy = {role: (cpu_end[role] - cpu_start[role]) / wall_s for role in roles}
    print(
        f"{topic} {workers}w: {events / wall_s:.0f} events/s over {events} events; CPU µs/event "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu_us.items())
        + "; cores busy "
        + ", ".join(f"{k} {v:.2f}" for k, v in busy.items()),
        flush=True,
    )
    return events / wall_s, cpu_us


def resolve_costs(url: str) -> dict[str, float]:
    """The worker's lookup CPU per event in this process: one round trip per event (the
    baseline: how workers resolved before) vs one pipelined `resolve_many` per polled batch."""
    r = client(url)
    hot = RedisBindingHotSet(r, P, prefix="costs")
    hot.put(bindings())
    rng = random.Random(3)
    queries = [
        (f"203.0.{a // 250}.{a % 250}", rng.randint(1024, 1024 + BLOCKS_PER_ADDRESS * BLOCK - 1), 1)
        for a in (rng.randrange(ADDRESSES) for _ in range(10_000))
    ]
    t0 = time.process_time()
    one_by_one = [hot.resolve(*q) for q in queries]
    single_us = (time.process_time() - t0) * 1e6 / len(queries)
    t0 = time.process_time()
    batched = [
        a for i in range(0, len(queries), 500) for a in hot.resolve_many(queries[i : i + 500])
    ]
    batch_us = (time.process_time() - t0) * 1e6 / len(queries)
    assert batched == one_by_one and all(a.level is Level.LINE for a in batched)
    r.close()
    return {
        "scale.lookup_cpu_us_per_event_single": single_us,
        "scale.lookup_cpu_us_per_event_batch": batch_us,
        "scale.lookup_batch_vs_single": single_us / batch_us,
    }


def main() -> None:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    numbers: dict[str, float] = {"scale.load_average_1m": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        data = Path(tmp) / "data"
        numbers |= hot_set_costs(redis_url)
        numbers |= resolve_costs(redis_url)
        print({k: round(v, 1) for k, v in numbers.items()}, flush=True)
        t0 = time.process_time()
        fill_log(data / "events")
        numbers["scale.cpu_us_per_event_collector_log"] = (time.process_time() - t0) * 1e6 / EVENTS
        with kafka_broker(free_port()) as bootstrap:
            for n in (1, 2):  # end to end: collector log → forwarder → broker → workers
                rate, cpu_us = pipeline_rate(
                    n, bootstrap, redis_url, data, topic=f"e2e{n}", forward=True
                )
                numbers[f"scale.events_per_s_{n}w"] = rate
                # The forwarder runs ahead of the workers (its window share is not its cost
                # per event): its own figure is `forward_rate`'s.
                for role, us in cpu_us.items():
                    if role != "forwarder":
                        numbers[f"scale.cpu_us_per_event_{role}_{n}w"] = us
            # each stage alone: the forwarder, then the workers on a topic already full
            numbers |= forward_rate(bootstrap, redis_url, data, "full")
            for n in (1, 2):
                rate, cpu_us = pipeline_rate(
                    n, bootstrap, redis_url, data, topic="full", forward=False
                )
                numbers[f"scale.resolve_events_per_s_{n}w"] = rate
                for role, us in cpu_us.items():
                    numbers[f"scale.resolve_cpu_us_per_event_{role}_{n}w"] = us
        for stage in ("events", "resolve_events"):
            numbers[f"scale.{stage}_2w_vs_1w"] = (
                numbers[f"scale.{stage}_per_s_2w"] / numbers[f"scale.{stage}_per_s_1w"]
            )
        # What one core of resolve workers sustains (the stage that scales out).
        numbers["scale.worker_events_per_s_core"] = (
            1e6 / numbers["scale.cpu_us_per_event_worker_1w"]
        )
        record(numbers)
        numbers |= batch_times(Path(tmp) / "batch")
    record(numbers)
    for k, v in sorted(numbers.items()):
        print(f"{k} = {v:.3f}")
    print(
        f"ratio 2w/1w = {numbers['scale.events_2w_vs_1w']:.2f} end to end, "
        f"{numbers['scale.resolve_events_2w_vs_1w']:.2f} resolve stage alone; "
        f"worker CPU/event 1w {numbers['scale.cpu_us_per_event_worker_1w']:.1f} µs, "
        f"2w {numbers['scale.cpu_us_per_event_worker_2w']:.1f} µs; "
        f"batch lookup vs per-event {numbers['scale.lookup_batch_vs_single']:.2f}; "
        f"spark/duckdb = {numbers.get('scale.spark_vs_duckdb', float('nan')):.2f}; "
        f"load average {numbers['scale.load_average_1m']:.1f}"
    )


if __name__ == "__main__":
    help_or_run(__doc__)
    main()
