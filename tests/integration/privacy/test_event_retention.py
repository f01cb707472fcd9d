"""`netcx retention purge` deletes collected events past `identity.retention_days.events`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.domain.events import Event, Source

pytestmark = pytest.mark.integration
DAY_MS = 86_400_000


def netcx(data: Path, *args: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-m", "netcx", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        env={**os.environ, "NETCX_IDENTITY__RETENTION_DAYS": json.dumps({"events": 30})},
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_events_past_their_retention_are_purged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    now = int(time.time() * 1000)
    ages_days = [400, 31, 29, 0]
    log = SegmentEventLog(data / "events")
    events = [
        Event(
            Source.TAG,
            f"e{n}",
            "page",
            received_ms=now - age * DAY_MS,
            visitor_id=f"cookie-{n}-of-{age}-days",
        )
        for n, age in enumerate(ages_days)
    ]
    asyncio.run(log.append(events))
    log.close()
    purged = netcx(data, "retention", "purge")
    assert purged["events"] == 2
    assert netcx(data, "events", "count", "--json")["total"] == 2
    assert b"cookie-0-of-400-days" not in b"".join(
        p.read_bytes() for p in (data / "events").glob("*.seg")
    )
    assert netcx(data, "retention", "purge")["events"] == 0
