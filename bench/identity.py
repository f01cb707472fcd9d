"""Identity benchmark: consent-gated recognition per store, and batch session identity.

Baselines run in the same process:
- recognise: a bare `Resolver.resolve` + visitor pseudonym (no consent, graph or audit);
  the ratio says what the gate, the graph and the audit cost.
- build_session_identity: a pyarrow group-by of the same hits per session (min/max time);
  the ratio says what consent gating and recognition cost over plain sessionisation.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from _results import help_or_run, record
from netcx.bootstrap import build_identity_service
from netcx.config import load_settings
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.services.identity import IdentityService, RecogniseRequest, build_session_identity
from netcx.tables import HITS, RESOLVED_HITS

BATCH = 100
VISITORS = 2_000
CALLS = 6_000
LINES = 500
HITS_N = 200_000
PSEUDO = Pseudonymizer({"k1": b"bench"}, "k1")


def ip_of(i: int) -> str:
    return f"198.18.{i // 256}.{i % 256}"


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextmanager
def redis_url() -> Iterator[str | None]:
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait()


def bench_recognise(tmp: Path, store: str, url: str | None) -> tuple[float, float, float]:
    """Recognitions/s one by one and in batches (each on a fresh store), and the bare
    resolver baseline, over the same calls."""
    bindings = tmp / "bindings.json"
    bindings.write_text(
        json.dumps(
            [
                {
                    "ip": ip_of(i),
                    "level": "line",
                    "confidence": 0.9,
                    "line_id": f"L{i}",
                    "subscriber_id": f"S{i}",
                    "household_id": f"H{i // 2}",
                    "account_id": f"A{i // 2}",
                }
                for i in range(LINES)
            ]
        )
    )
    rng = random.Random(7)
    calls = [(f"v{rng.randrange(VISITORS)}", ip_of(rng.randrange(LINES))) for _ in range(CALLS)]
    now = int(time.time() * 1000)

    def fresh(name: str) -> IdentityService:
        settings = load_settings(
            storage={"data_dir": tmp / store / name},
            identity={
                "store": store,
                "static_bindings": bindings,
                "redis_prefix": name,
                **({"redis_url": url} if url else {}),
            },
        )
        svc = build_identity_service(settings, PSEUDO)
        for v in range(0, VISITORS, 2):  # half the visitors consented to personalisation
            svc.set_consent(f"visitor:v{v}", "personalisation", True, "bench", "v1", "bench")
        return svc

    single, batch = fresh("single"), fresh("batch")

    def one_by_one() -> None:
        for visitor, ip in calls:
            single.recognise(visitor, ip, 1024, now, "personalisation", None, caller="bench")

    def batched() -> None:
        requests = [
            RecogniseRequest(visitor, ip, 1024, now, "personalisation") for visitor, ip in calls
        ]
        for start in range(0, len(requests), BATCH):
            batch.recognise_many(requests[start : start + BATCH], caller="bench")

    def baseline() -> None:
        for visitor, ip in calls:
            PSEUDO.pseudonym(IdKind.VISITOR, visitor)
            single.resolver.resolve(ip, 1024, now)

    return CALLS / timed(one_by_one), CALLS / timed(batched), CALLS / timed(baseline)


def synthetic_hits() -> tuple[pa.Table, pa.Table]:
    rng = random.Random(11)
    rows, resolved = [], []
    for h in range(HITS_N):
        session = h // 8
        line = session % LINES
        rows.append(
            {
                "hit_id": h,
                "ts_ms": 1_700_000_000_000 + h * 1000,
                "visitor_id": f"v{session % 9000}",
                "session_id": f"s{session}",
                "channel": "web",
                "event_type": "page",
                "url": "/",
                "title": "t",
                "search_term": None,
                "referrer": None,
                "user_agent": "ua",
                "src_ip": ip_of(line),
                "src_port": 1024,
                "login_subscriber_id": f"S{line}" if rng.random() < 0.02 else None,
                "consent_analytics": True,
                "consent_personalisation": session % 3 != 0,
                "consent_marketing": False,
            }
        )
        known = rng.random() < 0.7
        resolved.append(
            {
                "hit_id": h,
                "level": "line" if known else "unknown",
                "reason": "bench",
                "confidence": 0.9 if known else 0.0,
                "line_id": PSEUDO.pseudonym(IdKind.LINE, f"L{line}") if known else None,
                "subscriber_id": None,
                "household_id": None,
                "account_id": None,
                "evidence": "[]",
            }
        )
    return pa.Table.from_pylist(rows, schema=HITS), pa.Table.from_pylist(
        resolved, schema=RESOLVED_HITS
    )


def main() -> None:
    numbers: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_s, redis_url() as url:
        tmp = Path(tmp_s)
        for store in ("memory", "sqlite", "redis"):
            if store == "redis" and url is None:
                print("redis-server not installed: skipping the redis store")
                continue
            ours, batch, base = bench_recognise(tmp, store, url)
            numbers[f"identity.recognise_per_s.{store}"] = ours
            numbers[f"identity.recognise_batched_per_s.{store}"] = batch
            numbers[f"identity.recognise_vs_bare_resolve.{store}"] = ours / base
            numbers[f"identity.recognise_batched_vs_bare_resolve.{store}"] = batch / base
            print(
                f"recognise [{store}]: {ours:,.0f}/s one by one, {batch:,.0f}/s in batches of "
                f"{BATCH}, vs bare resolve {base:,.0f}/s -> ratios {ours / base:.3f} / "
                f"{batch / base:.3f}"
            )
    hits, resolved = synthetic_hits()
    ours_s = timed(lambda: build_session_identity(hits, resolved, PSEUDO))
    base_s = timed(
        lambda: hits.group_by("session_id").aggregate([("ts_ms", "min"), ("ts_ms", "max")])
    )
    numbers["identity.session_identity_hits_per_s"] = HITS_N / ours_s
    numbers["identity.session_identity_vs_groupby"] = base_s / ours_s
    print(
        f"build_session_identity: {HITS_N / ours_s:,.0f} hits/s vs pyarrow group-by "
        f"{HITS_N / base_s:,.0f} hits/s -> ratio {base_s / ours_s:.3f}"
    )
    record(numbers)


if __name__ == "__main__":
    help_or_run(__doc__)
    main()
