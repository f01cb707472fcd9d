"""The recognition follower's CPU per event on a backlog recorded from real HTTP load.

`netcx serve` (follower mode, two granian workers) takes SECONDS of wrk load while this
process holds the follower lock, so the workers store every event and nobody recognises
them: bench/collect.py's Lua script and visitor pool, in two shapes, each its own backlog —
100-event batches of ten visitors each (`batch`), and single page events (`single`, one
request each: every event a different visitor's, so nothing is shared within a visit).
Then, in this process, with nothing else running, the follower drains each backlog, and
the CPU per event is measured over the second half of it (the first half brings the 2 000
visitors to steady state: their first consent records and full intent states).

Baseline, in the same process: the same follower over a copy of the same backlog with a
recognizer that answers `anonymous` at once. That is the follower's own machinery
(reading, checking and decoding the stored events, writing and syncing the recognition
records, the checkpoint), so the ratio says how much of the follower's cost is recognition.

Unlike bench/collect.py, no worker or wrk shares the cores during the drain, so the number
moves little with the machine's load: use it to compare follower changes (run it on each
version in turn). Records, for batches, `collect.follower_backlog_cpu_us_per_event`,
`collect.follower_backlog_machinery_cpu_us_per_event` and
`collect.follower_backlog_vs_machinery`, and the same with `_single` for single events.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from _results import help_or_run, record
from collect import BATCH, HERE, LUA, MIXED_VISITS, VISITORS, free_port, start, stop, wrk
from netcx.adapters.storage.eventlog_follower import RecognitionFollower
from netcx.bootstrap import build_recognition_follower
from netcx.config import load_settings
from netcx.domain.events import Event, Recognition
from netcx.entrypoints.gc_policy import tune_gc

SECONDS = int(os.environ.get("NETCX_BENCH_SECONDS", "5"))
WRITE_KEY = "bench-key"


class Shape(NamedTuple):
    """A load of bench/collect.py's Lua script: its path, events per request and visitors
    per request."""

    path: str
    batch: int
    visits: int

    @property
    def events_per_request(self) -> int:
        return max(1, self.batch)


SHAPES = {
    "batch": Shape("/v1/batch", BATCH, MIXED_VISITS),
    "single": Shape("/v1/page", 0, 1),
}


def record_backlog(data: Path, shape: Shape) -> int:
    """Fill `data` with SECONDS of stored, unrecognised requests of `shape`; the events
    stored."""
    events = data / "events"
    events.mkdir(parents=True)
    lock = os.open(events / "follower.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # serve's follower waits for it: nothing is recognised
    script = data.parent / "post.lua"
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    script.write_text(LUA.replace("AUTH", auth).replace("VISITORS", str(VISITORS)))
    port = free_port()
    env = {
        **os.environ,
        "NETCX_HTTP__WRITE_KEYS": f'["{WRITE_KEY}"]',
        "NETCX_COLLECT__RECOGNITION": "follower",
        "NETCX_COLLECT__FOLLOWER_MAX_LAG_BYTES": str(1 << 40),  # no backpressure
    }
    server = start(
        [sys.executable, "-m", "netcx", "serve", "--port", str(port), "--workers", "2",
         "--data", str(data)],
        env, HERE, port,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        rps = wrk(url, script, shape.path, "b", shape.batch, shape.visits, seconds=SECONDS)
    finally:
        stop(server)
        os.close(lock)
    return round(rps * SECONDS * shape.events_per_request)


class AnonymousRecognizer:
    """Answers at once: the follower's machinery without recognition."""

    def __call__(self, events: Sequence[Event]) -> list[Recognition]:
        return [Recognition.anonymous("bench")] * len(events)


def drain(data: Path, *, recognise: bool) -> tuple[int, float]:
    """(events drained, CPU seconds per event over the second half of the backlog)."""
    settings = load_settings(
        storage={"data_dir": str(data)}, collect={"recognition": "follower", "fsync": "always"}
    )
    c = settings.collect
    follower = (
        build_recognition_follower(settings)
        if recognise
        else RecognitionFollower(
            data / "events",
            AnonymousRecognizer(),
            group_events=c.follower_group_events,
            fsync=c.fsync,
            dedupe_window_s=c.dedupe_window_s,
        )
    )
    tune_gc()
    if not follower.take_lock():
        raise RuntimeError(f"{data}: another follower holds the lock")

    async def run() -> tuple[int, float]:
        marks: list[tuple[int, float]] = []
        done, started = 0, time.process_time()
        while n := await follower.drain_once():
            done += n
            marks.append((done, time.process_time() - started))
        if not marks:
            raise RuntimeError(f"{data}: nothing to drain")
        half_events, half_cpu = next(m for m in marks if m[0] >= done // 2)
        end_events, end_cpu = marks[-1]
        return done, (end_cpu - half_cpu) / max(1, end_events - half_events)

    try:
        return asyncio.run(run())
    finally:
        follower.close()


def measure(tmp: Path, name: str, shape: Shape) -> dict[str, float]:
    """Record a backlog of `shape`, drain a copy without recognition and then the backlog
    itself; print and return the figures (keys suffixed `_single` for single events)."""
    data, copy = tmp / name / "data", tmp / name / "copy"
    stored = record_backlog(data, shape)
    shutil.copytree(data, copy)
    load = os.getloadavg()
    machinery_n, machinery = drain(copy, recognise=False)
    shutil.rmtree(copy)
    full_n, full = drain(data, recognise=True)
    shutil.rmtree(data)
    if machinery_n != full_n:
        raise RuntimeError(f"{name}: the two drains saw {machinery_n} and {full_n} events")
    what = f"{BATCH}-event batches of {MIXED_VISITS} visitors" if shape.batch else "single events"
    print(
        f"{name}: backlog of {full_n} events ({stored} by wrk's count), {SECONDS} s of "
        f"{what}, drained alone in this process"
    )
    print(f"  follower, recognising         : {full * 1e6:6.1f} us CPU/event (second half)")
    print(f"  follower machinery (baseline) : {machinery * 1e6:6.1f} us CPU/event (second half)")
    print(f"  ratio                         : {full / machinery:6.1f}x the machinery")
    print(f"  load average                  : {load[0]:.2f} at the drains' start")
    suffix = "" if name == "batch" else f"_{name}"
    return {
        f"collect.follower_backlog_cpu_us_per_event{suffix}": full * 1e6,
        f"collect.follower_backlog_machinery_cpu_us_per_event{suffix}": machinery * 1e6,
        f"collect.follower_backlog_vs_machinery{suffix}": full / machinery,
    }


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run scripts/install-system-deps.sh")
    numbers: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="netcx-bench-backlog-") as tmp:
        for name, shape in SHAPES.items():
            numbers.update(measure(Path(tmp), name, shape))
    record(numbers)


if __name__ == "__main__":
    help_or_run(__doc__)
    main()
