"""Recognition CPU per event, in-process (no HTTP): the collector's recognition of batches of
returning, consenting visitors, measured with time.process_time (and cProfile with
`--profile`). Prints µs of CPU per event for mixed batches (MIXED_VISITS visitors per 100
events), one-visitor batches and single events; records `collect.recognition_cpu_us_*`.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from _results import record
from netcx.bootstrap import build_container
from netcx.config import Settings, StorageSettings
from netcx.domain.events import ClientAddress, ConsentState, Event, Source

VISITORS = 2000
BATCH = 100
MIXED_VISITS = 10
EVENTS = int(os.environ.get("NETCX_BENCH_EVENTS", "20000"))
PAGES = ["tariffs", "tariffs/compare", "contract/cancel", "help/roaming", "shop/phones",
         "fibre/availability", "outage", "account/bill", "upgrade", "home"]  # fmt: skip
CONSENT = ConsentState(analytics=True, personalisation=True)


def event(run: str, n: int, visitor: int, now_ms: int) -> Event:
    page = PAGES[n % len(PAGES)]
    return Event(
        source=Source.SEGMENT,
        event_id=f"{run}-{n}",
        type="page",
        received_ms=now_ms,
        visitor_id=f"bench-visitor-{visitor}",
        name=page,
        url=f"https://shop.example/{page}",
        title=page,
        consent=CONSENT,
        client=ClientAddress("127.0.0.1", 40000 + visitor % 20000),
    )


def batches(run: str, per_batch: int, visits: int, total: int) -> list[list[Event]]:
    out, n = [], 0
    for b in range(total // per_batch):
        now = time.time_ns() // 1_000_000
        batch = []
        for i in range(per_batch):
            visitor = (b * visits + i // max(1, per_batch // visits)) % VISITORS
            batch.append(event(run, n, visitor, now))
            n += 1
        out.append(batch)
    return out


def cpu_per_event(recognise: object, work: list[list[Event]], profile: bool) -> float:
    prof = cProfile.Profile() if profile else None
    started = time.process_time()
    if prof:
        prof.enable()
    for batch in work:
        recognise(batch)  # type: ignore[operator]
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
    return (time.process_time() - started) / sum(len(b) for b in work)


def main() -> None:
    if sys.argv[1:] in (["--help"], ["-h"]):
        print(__doc__.strip())
        return
    profile = "--profile" in sys.argv
    with tempfile.TemporaryDirectory(prefix="netcx-bench-cpu-") as tmp:
        settings = Settings(storage=StorageSettings(data_dir=Path(tmp)))
        container = build_container(settings)
        recognise = container.recognizer.recognise_now  # type: ignore[attr-defined]
        # Every visitor comes once first: steady state (returning visitors).
        for batch in batches("warm", BATCH, BATCH, VISITORS):
            recognise(batch)
        mixed = cpu_per_event(recognise, batches("m", BATCH, MIXED_VISITS, EVENTS), profile)
        one = cpu_per_event(recognise, batches("o", BATCH, 1, EVENTS), False)
        single = cpu_per_event(recognise, batches("s", 1, 1, EVENTS // 10), False)
    load = os.getloadavg()[0]
    print(f"recognition CPU per event, in-process ({EVENTS} events, load {load:.2f})")
    print(f"  batches of {BATCH}, {MIXED_VISITS} visitors : {mixed * 1e6:7.1f} us")
    print(f"  batches of {BATCH}, 1 visitor    : {one * 1e6:7.1f} us")
    print(f"  single events               : {single * 1e6:7.1f} us")
    record(
        {
            "collect.recognition_cpu_us_per_event_mixed": mixed * 1e6,
            "collect.recognition_cpu_us_per_event_one_visitor": one * 1e6,
            "collect.recognition_cpu_us_per_event_single": single * 1e6,
        }
    )


if __name__ == "__main__":
    main()
