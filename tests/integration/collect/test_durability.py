"""A 2xx means durable: SIGKILL the collector under load, restart, find each acked event once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.collect.conftest import WRITE_KEY, collector, events_count, raw_records
from tests.servers import free_port

pytestmark = pytest.mark.integration


def raw_event_ids(events_dir: Path) -> list[str]:
    """Event ids of every intact record in the segment files, without the adapter's dedupe."""
    return [r["event"]["event_id"] for r in raw_records(events_dir) if r["type"] == "e"]


def load(base: str, worker: int, acked: list[str], stop: threading.Event) -> None:
    """Send single events and 10-event batches until told to stop or the server dies."""
    n = 0
    with httpx.Client(base_url=base, auth=(WRITE_KEY, ""), timeout=5) as client:
        while not stop.is_set():
            n += 1
            try:
                if n % 4 == 0:
                    ids = [f"w{worker}-b{n}-{i}" for i in range(10)]
                    batch = [
                        {"type": "track", "userId": "u", "event": "Load", "messageId": m}
                        for m in ids
                    ]
                    r = client.post("/v1/batch", json={"batch": batch})
                else:
                    ids = [f"w{worker}-s{n}"]
                    r = client.post(
                        "/v1/track", json={"userId": "u", "event": "Load", "messageId": ids[0]}
                    )
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                acked.extend(ids)


@pytest.mark.parametrize("fsync", ["always", "interval"])
def test_sigkill_under_load_loses_no_acknowledged_event_and_stores_each_once(
    tmp_path: Path, fsync: str
) -> None:
    data = tmp_path / "data"
    port = free_port()
    env = {"NETCX_COLLECT__FSYNC": fsync}
    acked: list[str] = []
    stop = threading.Event()
    with collector(data, env=env, port=port) as served:
        threads = [
            threading.Thread(target=load, args=(served.base, w, acked, stop)) for w in range(4)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 1500 and time.monotonic() < deadline:
            time.sleep(0.02)
        served.kill()  # mid-load: requests are in flight
        stop.set()
        for t in threads:
            t.join()
    assert len(acked) >= 1500
    acked_before_kill = list(acked)

    with collector(data, env=env, port=port) as served:
        # Clients retry what they sent; retries of acknowledged events must not be stored again.
        retry = [
            {"type": "track", "userId": "u", "event": "Load", "messageId": m} for m in acked[:50]
        ]
        r = httpx.post(f"{served.base}/v1/batch", json={"batch": retry}, auth=(WRITE_KEY, ""))
        assert r.status_code == 200

    ids = raw_event_ids(data / "events")
    missing = set(acked_before_kill) - set(ids)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert len(ids) == len(set(ids)), "an event was stored twice"
    assert events_count(data)["total"] == len(ids)
