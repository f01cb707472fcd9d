"""Export and erasure of one subject reach the collector's event log and the intent state,
through a real `netcx serve` process: events posted over HTTP, erased from the bytes on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from tests.servers import netcx_server, redis_server, wait_until

pytestmark = pytest.mark.integration

KEY = "erasure-test-key"
API_KEY = "dpo-secret"
WRITE_KEY = "wk-erasure"
P = Pseudonymizer({"k1": KEY.encode()}, "k1")
VICTIM, OTHER = "victim-cookie-7f3a", "other-cookie-9b21"
AUTH = {"Authorization": f"Bearer {API_KEY}", "X-Netcx-Caller": "dpo"}


def server_env(tmp: Path) -> dict[str, str]:
    """The loopback peer is line L1 of household H1: both visitors share it."""
    bindings = tmp / "bindings.json"
    bindings.write_text(
        json.dumps(
            [
                {
                    "ip": "127.0.0.1",
                    "level": "line",
                    "confidence": 0.97,
                    "line_id": "L1",
                    "household_id": "H1",
                    "account_id": "A1",
                }
            ]
        )
    )
    return {
        "NETCX_IDENTITY__STATIC_BINDINGS": str(bindings),
        "NETCX_PSEUDONYMS__KEYS": json.dumps({"k1": KEY}),
        "NETCX_HTTP__API_KEYS": json.dumps([API_KEY]),
        "NETCX_HTTP__WRITE_KEYS": json.dumps([WRITE_KEY]),
    }


def post_pages(base: str, visitor: str, n: int, first: int = 0) -> None:
    batch = [
        {
            "type": "page",
            "messageId": f"{visitor}-{i}",
            "anonymousId": visitor,
            "name": "Roaming",
            "properties": {"url": f"https://telco.example/roaming/eu?p={i}", "path": "/roaming/eu"},
        }
        for i in range(first, first + n)
    ]
    r = httpx.post(f"{base}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=10)
    assert r.status_code == 200, r.text


def events_count(data: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "netcx", "events", "count", "--json", "--data", str(data)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def segment_bytes(data: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((data / "events").iterdir()) if p.is_file())


def test_export_then_erase_reach_the_event_log_and_the_intent_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    victim, other = P.pseudonym(IdKind.VISITOR, VICTIM), P.pseudonym(IdKind.VISITOR, OTHER)
    household = P.pseudonym(IdKind.HOUSEHOLD, "H1")
    with (
        netcx_server(data, env=server_env(tmp_path)) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=10) as dpo,
    ):
        for cookie in (VICTIM, OTHER):
            r = dpo.put(
                f"/v1/consent/visitor:{cookie}/personalisation",
                json={"granted": True, "source": "tag", "text_version": "v1"},
            )
            assert r.status_code == 200, r.text
        post_pages(base, VICTIM, 3)
        post_pages(base, OTHER, 2)

        def scored() -> bool:
            exported = dpo.get(f"/v1/subjects/visitor:{VICTIM}/export").json()
            return any(s["subject"] == victim for s in exported["intent_state"])

        wait_until(scored, timeout_s=10, what="intent state of the victim")
        for cookie in (VICTIM, OTHER):
            body = {"channel": "web", "visitor_id": cookie}
            decided = dpo.post("/v1/decide", json=body, headers={"X-Api-Key": API_KEY})
            assert decided.status_code == 200, decided.text
        exported = dpo.get(f"/v1/subjects/visitor:{VICTIM}/export").json()
        assert sorted(e["event_id"] for e in exported["events"]) == [
            f"{VICTIM}-{i}" for i in range(3)
        ]
        assert all(e["recognition"]["ids"]["visitor"] == victim for e in exported["events"])
        assert "127.0.0.1" not in json.dumps(exported)  # no client address in an export
        states = {s["subject"]: s for s in exported["intent_state"]}
        assert "roaming" in states[victim]["intents"]
        # the household's roaming intent holds the victim's page views as evidence
        assert {e["source"] for e in states[household]["evidence_from_subject"]} == {victim}
        assert events_count(data)["total"] == 5
        assert [d["visitor_id"] for d in exported["decisions"]] == [VICTIM]  # as the caller sent

        erased = dpo.delete(f"/v1/subjects/visitor:{VICTIM}")
        assert erased.status_code == 200, erased.text
        counts = erased.json()["erased"]
        assert counts["events"] == 3
        assert counts["intent_state"] >= 3  # its own state, the line's and household's evidence
        assert counts["decisions"] == 1

        on_disk = segment_bytes(data)
        assert OTHER.encode() in on_disk and other.encode() in on_disk
        # no file of the data dir (segments, SQLite files and their write-ahead logs) keeps
        # the victim's cookie or pseudonym
        left = [
            f.relative_to(data)
            for f in sorted(data.rglob("*"))
            if f.is_file() and (VICTIM.encode() in (b := f.read_bytes()) or victim.encode() in b)
        ]
        assert left == []
        gone = dpo.get(f"/v1/subjects/visitor:{VICTIM}/export").json()
        assert gone["events"] == [] and gone["intent_state"] == [] and gone["decisions"] == []
        assert events_count(data)["total"] == 2

        kept = dpo.get(f"/v1/subjects/visitor:{OTHER}/export").json()
        assert len(kept["events"]) == 2 and len(kept["decisions"]) == 1
        house = {s["subject"]: s for s in kept["intent_state"]}[household]
        assert {e["source"] for e in house["evidence_from_subject"]} == {other}

        post_pages(base, OTHER, 3)  # the collector goes on after an erasure
        time.sleep(0.2)
        assert events_count(data)["total"] == 3  # 2 kept + 1 new (ids 0-1 deduplicated)


def test_erasure_reaches_the_segments_every_worker_is_appending_to(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = server_env(tmp_path)
    with (
        netcx_server(data, env=env, args=("--workers", "2")) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=10) as dpo,
    ):
        for round_ in range(6):  # a new connection per post: both workers take some
            post_pages(base, VICTIM, 2, first=2 * round_)
            post_pages(base, OTHER, 2, first=2 * round_)
        workers = {p.name.split("-")[0] for p in (data / "events").glob("*.seg")}
        assert workers == {"w0", "w1"}
        erased = dpo.delete(f"/v1/subjects/visitor:{VICTIM}")
        assert erased.status_code == 200, erased.text
        assert erased.json()["erased"]["events"] == 12
        post_pages(base, OTHER, 4, first=100)  # both workers go on appending
        post_pages(base, VICTIM, 1, first=100)  # a new visit after the erasure is kept
        on_disk = segment_bytes(data)
        assert f"{VICTIM}-0".encode() not in on_disk and f"{VICTIM}-100".encode() in on_disk
        assert events_count(data)["total"] == 12 + 4 + 1
        # the CLI, a third process, erases while both workers run
        done = subprocess.run(
            [sys.executable, "-m", "netcx", "subject", "erase", f"visitor:{OTHER}", "--yes",
             "--data", str(data)],
            capture_output=True, text=True, env={**os.environ, **env}, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["erased"]["events"] == 16
        assert events_count(data)["total"] == 1
        assert OTHER.encode() not in segment_bytes(data)


@pytest.mark.redis
def test_erasure_reaches_the_forwarded_copies_on_redis_streams(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with redis_server() as url:
        env = {
            **server_env(tmp_path),
            "NETCX_SCALE__BUS__BACKEND": "redis",
            "NETCX_SCALE__BUS__REDIS_URL": url,
            "NETCX_SCALE__BUS__PARTITIONS": "2",
            "NETCX_SCALE__BUS__RECOGNITION_WAIT_MS": "100",
        }
        r = redis.Redis.from_url(url)
        streams = [f"netcx:{{bus:netcx.events:{p}}}:events" for p in range(2)]

        def on_bus() -> bytes:
            return b"".join(
                v for s in streams for _, fields in r.xrange(s) for v in fields.values()
            )

        with (
            netcx_server(data, env=env) as base,
            httpx.Client(base_url=base, headers=AUTH, timeout=10) as dpo,
        ):
            post_pages(base, VICTIM, 3)
            post_pages(base, OTHER, 2)
            wait_until(lambda: sum(r.xlen(s) for s in streams) == 5, what="forwarded by serve")
            exported = dpo.get(f"/v1/subjects/visitor:{VICTIM}/export").json()
            assert len(exported["bus"]) == 3 and len(exported["events"]) == 3
            erased = dpo.delete(f"/v1/subjects/visitor:{VICTIM}").json()["erased"]
            assert erased["bus"] == 3 and erased["events"] == 3
            copies = on_bus()
            assert VICTIM.encode() not in copies and OTHER.encode() in copies
            assert sum(r.xlen(s) for s in streams) == 2
        r.close()
