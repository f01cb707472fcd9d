"""collect.recognition=follower through real processes: `netcx serve --workers 2` stores, its
recognition follower child recognises each event once (and is restarted when it dies), and
`netcx events recognise --once` / `netcx events lag` work on a data directory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from netcx.adapters.storage.eventlog_follower import RecognitionFollower
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.domain.events import ClientAddress, ConsentState, Event, Recognition, Source
from tests.integration.collect.conftest import WRITE_KEY, collector, events_count, raw_records

pytestmark = pytest.mark.integration

CONSENTING, SILENT = "visitor-yes", "visitor-no"


def server_env(tmp: Path, recognition: str) -> dict[str, str]:
    """The loopback peer is line L1 (static binding), so a visitor who consents to
    personalisation is recognised at line level; one who states nothing stays anonymous."""
    bindings = tmp / "bindings.json"
    line = {"ip": "127.0.0.1", "level": "line", "confidence": 0.97, "line_id": "L1"}
    bindings.write_text(
        json.dumps([{**line, "subscriber_id": "S1", "household_id": "H1", "account_id": "A1"}])
    )
    return {
        "NETCX_IDENTITY__STATIC_BINDINGS": str(bindings),
        "NETCX_PSEUDONYMS__KEYS": json.dumps({"k1": "follower-test-key"}),
        "NETCX_COLLECT__RECOGNITION": recognition,
    }


def message(event_id: str, visitor: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "track",
        "event": "Viewed Plans",
        "anonymousId": visitor,
        "messageId": event_id,
    }
    if visitor == CONSENTING:
        body["context"] = {"consent": {"categoryPreferences": {"Personalisation": True}}}
    return body


def post_events(base: str, prefix: str, per_visitor: int) -> list[str]:
    """Send each visitor's events in batches of 3, each on a fresh connection so both
    workers take some; returns the event ids."""
    ids: list[str] = []
    for visitor in (CONSENTING, SILENT):
        mine = [f"{prefix}-{visitor}-{n}" for n in range(per_visitor)]
        for start in range(0, per_visitor, 3):
            batch = [message(i, visitor) for i in mine[start : start + 3]]
            r = httpx.post(f"{base}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
            assert r.status_code == 200, r.text
        ids += mine
    return ids


def wait_all_recognised(data: Path, total: int, timeout_s: float = 20) -> dict[str, int]:
    """Poll `netcx events count --json` until every event has a level; the levels."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = events_count(data)
        levels: dict[str, int] = counts["by_level"]  # type: ignore[assignment]
        if counts["total"] == total and "pending" not in levels:
            return levels
        assert time.monotonic() < deadline, f"still pending after {timeout_s}s: {counts}"
        time.sleep(0.2)


def follower_pids(root: int) -> list[int]:
    """PIDs of the `events recognise` processes descending from `root` (read from /proc)."""
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdlines[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        if b"events\0recognise" in cmdlines.get(pid, b""):
            found.append(pid)
    return found


def recognition_items(events_dir: Path) -> tuple[set[tuple[str, str]], Counter[tuple[str, str]]]:
    """Event keys and how many recognition items each has, read straight from the segment
    format, without the adapter's own merging."""
    events: set[tuple[str, str]] = set()
    recognitions: Counter[tuple[str, str]] = Counter()
    for record in raw_records(events_dir):
        if record["type"] == "e":
            events.add((record["event"]["source"], record["event"]["event_id"]))
        else:
            recognitions.update((source, event_id) for source, event_id, _ in record["items"])
    return events, recognitions


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        if time.monotonic() > deadline:
            tree = subprocess.run(["ps", "-eo", "pid,ppid,stat,etime,cmd"], capture_output=True)
            raise AssertionError(f"no {what} within {timeout_s}s; processes:\n{tree.stdout!r}")
        time.sleep(0.1)
    return found


def test_serve_in_follower_mode_recognises_like_inline_and_survives_a_killed_follower(
    tmp_path: Path,
) -> None:
    data = tmp_path / "follower"
    env = server_env(tmp_path, "follower")
    with collector(data, env=env, workers=2) as served:
        first = post_events(served.base, "a", per_visitor=9)
        levels = wait_all_recognised(data, len(first))
        assert levels == {"network_line": 9, "anonymous": 9}

        (pid,) = wait_for(lambda: follower_pids(served.proc.pid), 10, "one follower child")
        os.kill(pid, signal.SIGKILL)
        second = post_events(served.base, "b", per_visitor=6)
        restarted = wait_for(
            lambda: [p for p in follower_pids(served.proc.pid) if p != pid],
            10,
            "a restarted follower",
        )
        assert len(restarted) == 1
        levels = wait_all_recognised(data, len(first) + len(second))
        assert levels == {"network_line": 15, "anonymous": 15}
        assert "recognition follower exited" in served.output.read_text()
        root = served.proc.pid
    # serve's shutdown stopped its follower too
    wait_for(lambda: not follower_pids(root) and not _recognisers_of(data), 10, "follower stopped")

    events, recognitions = recognition_items(data / "events")
    assert {k for _, k in events} == set(first + second)
    assert recognitions == Counter(dict.fromkeys(events, 1))  # each recognised exactly once

    inline = tmp_path / "inline"
    with collector(inline, env=server_env(tmp_path, "inline")) as served:
        post_events(served.base, "a", per_visitor=9)
        post_events(served.base, "b", per_visitor=6)
    assert events_count(inline)["by_level"] == levels
    # the same answer for each event (level, reason, pseudonymous ids), not just as many
    assert recognitions_by_event(data) == recognitions_by_event(inline)


def test_follower_mode_recognises_batches_in_their_worker_and_the_rest_in_the_follower(
    tmp_path: Path,
) -> None:
    """With `collect.inline_batch_events`, a batch is recognised before its reply even while
    the follower is stopped; a smaller request waits for the follower; each event once."""
    data = tmp_path / "mixed"
    env = {**server_env(tmp_path, "follower"), "NETCX_COLLECT__INLINE_BATCH_EVENTS": "3"}
    with collector(data, env=env, workers=2) as served:
        (pid,) = wait_for(lambda: follower_pids(served.proc.pid), 10, "one follower child")
        os.kill(pid, signal.SIGSTOP)  # only the workers can recognise now
        try:
            batched = post_events(served.base, "a", per_visitor=6)  # batches of 3
            assert events_count(data)["by_level"] == {"network_line": 6, "anonymous": 6}
            single = [message("s-1", CONSENTING), message("s-2", SILENT)]
            for body in single:
                r = httpx.post(
                    f"{served.base}/v1/batch", json={"batch": [body]}, auth=(WRITE_KEY, "")
                )
                assert r.status_code == 200, r.text
            assert events_count(data)["by_level"]["pending"] == 2
        finally:
            os.kill(pid, signal.SIGCONT)
        levels = wait_all_recognised(data, len(batched) + 2)
        assert levels == {"network_line": 7, "anonymous": 7}
    events, recognitions = recognition_items(data / "events")
    assert {k for _, k in events} == {*batched, "s-1", "s-2"}
    assert recognitions == Counter(dict.fromkeys(events, 1))  # each recognised exactly once


def recognitions_by_event(data: Path) -> dict[str, Recognition | None]:
    return {s.event.event_id: s.recognition for s in SegmentEventLog(data / "events").read()}


def _recognisers_of(data: Path) -> list[int]:
    """Any `events recognise` process on `data` (stray followers after a serve stopped)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:
            continue
        if b"events\0recognise" in cmd and str(data.resolve()).encode() in cmd:
            found.append(int(entry.name))
    return found


def cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netcx", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_recognise_once_catches_up_a_data_directory_and_lag_reports_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = server_env(tmp_path, "follower")
    log = SegmentEventLog(data / "events")  # written as the HTTP workers would
    client = ClientAddress("127.0.0.1", 50000)
    events = [
        Event(
            Source.SEGMENT,
            f"e{n}",
            "track",
            received_ms=1_700_000_000_000 + n,
            visitor_id=CONSENTING if n % 2 else SILENT,
            consent=ConsentState(personalisation=True) if n % 2 else ConsentState(),
            client=client,
        )
        for n in range(8)
    ]
    asyncio.run(log.append(events))
    log.close()

    lag = json.loads(cli("events", "lag", "--data", str(data), env=env).stdout)
    assert lag["unrecognised_bytes"] > 0

    holder = RecognitionFollower(data / "events", lambda batch: [])
    assert holder.take_lock()  # another follower runs
    refused = cli("events", "recognise", "--once", "--data", str(data), env=env)
    holder.close()
    assert refused.returncode != 0
    assert "another recognition follower" in " ".join(refused.stderr.split())  # wrapped

    done = cli("events", "recognise", "--once", "--data", str(data), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "recognised=8 anonymous=4 network_line=4"
    again = cli("events", "recognise", "--once", "--data", str(data), env=env)
    assert again.stdout.strip().splitlines()[-1] == "recognised=0"
    assert json.loads(cli("events", "lag", "--data", str(data), env=env).stdout) == {
        "unrecognised_bytes": 0
    }
    assert events_count(data)["by_level"] == {"network_line": 4, "anonymous": 4}


def test_collector_replies_wait_while_the_follower_is_behind_at_most_max_wait(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {
        **server_env(tmp_path, "follower"),
        "NETCX_COLLECT__FOLLOWER_MAX_LAG_BYTES": "0",
        "NETCX_COLLECT__FOLLOWER_MAX_WAIT_MS": "2000",
    }

    def post(event_id: str) -> float:
        started = time.monotonic()
        batch = {"batch": [message(event_id, CONSENTING)]}
        r = httpx.post(f"{served.base}/v1/batch", json=batch, auth=(WRITE_KEY, ""), timeout=10)
        assert r.status_code == 200, r.text
        return time.monotonic() - started

    with collector(data, env=env) as served:
        post("p0")
        wait_all_recognised(data, 1)
        (pid,) = wait_for(lambda: follower_pids(served.proc.pid), 10, "one follower child")
        os.kill(pid, signal.SIGSTOP)  # a follower that holds the lock and makes no progress
        try:
            post("p1")  # nothing was behind yet: stored at once
            time.sleep(0.1)
            assert post("p2") >= 1.9  # behind: the reply waits max_wait, then accepts
            assert events_count(data)["by_level"] == {"network_line": 1, "pending": 2}
        finally:
            os.kill(pid, signal.SIGCONT)
        assert wait_all_recognised(data, 3) == {"network_line": 3}
        assert post("p3") < 1.9  # caught up: no wait
        assert wait_all_recognised(data, 4) == {"network_line": 4}


def test_the_running_follower_serves_prometheus_metrics(tmp_path: Path) -> None:
    """`netcx events recognise --metrics-port`: recognised events by level, undecodable
    records and the lag, read from a real scrape while it follows new events."""
    from tests.servers import free_port

    data = tmp_path / "data"
    env = server_env(tmp_path, "follower")
    log = SegmentEventLog(data / "events")
    client = ClientAddress("127.0.0.1", 50000)
    asyncio.run(
        log.append(
            [
                Event(
                    Source.SEGMENT,
                    f"m{n}",
                    "track",
                    received_ms=1_700_000_000_000 + n,
                    visitor_id=CONSENTING,
                    consent=ConsentState(personalisation=True),
                    client=client,
                )
                for n in range(5)
            ]
        )
    )
    log.close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "netcx", "events", "recognise", "--data", str(data),
         "--metrics-port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:

        def scraped() -> str | None:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
            except httpx.HTTPError:
                return None
            done = 'netcx_follower_recognised_events_total{level="network_line"} 5.0' in text
            return text if done else None

        text = wait_for(scraped, 30, "the follower's metrics")
        assert "netcx_follower_lag_bytes 0.0" in text
        assert "netcx_follower_undecodable_records_total 0.0" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.strip().splitlines()[-1] == "recognised=5 network_line=5"
