"""The real `segment-analytics-python` client, pointed at `netcx serve`, works unchanged."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from segment.analytics import Client

from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from tests.integration.collect.conftest import WRITE_KEY, collector, events_count

pytestmark = pytest.mark.integration


def test_segment_python_client_events_are_stored_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    errors: list[Exception] = []
    with collector(data) as served:
        # The default (background thread, batched) mode: it posts to /v1/batch.
        client = Client(
            WRITE_KEY, host=served.base, on_error=lambda err, _batch: errors.append(err)
        )
        client.identify("user-42", {"plan": "fibre-500"}, anonymous_id="anon-1")
        client.track(
            "user-42",
            "Tariff Compared",
            {"from": "S", "to": "L"},
            context={"consent": {"categoryPreferences": {"Analytics": True, "Advertising": False}}},
            message_id="msg-track-1",
        )
        client.page(
            anonymous_id="anon-1", name="Cancel", properties={"url": "https://t.example/cancel"}
        )
        client.screen("user-42", name="Roaming", category="app")
        client.group("user-42", "acct-7", {"name": "Household 7"})
        client.alias("anon-1", "user-42")
        # a retry of an acknowledged message is acknowledged again but stored once
        client.track("user-42", "Tariff Compared", message_id="msg-track-1")
        client.flush()
        client.shutdown()
        metrics = httpx.get(f"{served.base}/metrics").text
    assert errors == []
    stored = list(SegmentEventLog(data / "events").read())
    assert [s.event.type for s in stored] == [
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    ]
    by_type = {s.event.type: s.event for s in stored}
    track = by_type["track"]
    assert track.event_id == "msg-track-1"
    assert track.name == "Tariff Compared"
    assert track.user_id == "user-42"
    assert track.properties == {"from": "S", "to": "L"}
    assert track.consent.analytics is True
    assert track.consent.marketing is False
    assert track.client is not None and track.client.ip == "127.0.0.1" and track.client.port
    assert by_type["page"].url == "https://t.example/cancel"
    assert by_type["page"].visitor_id == "anon-1"
    assert by_type["identify"].traits == {"plan": "fibre-500"}
    assert by_type["group"].group_id == "acct-7"
    assert by_type["alias"].previous_id == "anon-1"
    assert by_type["screen"].screen == "Roaming"
    # Recognised by the live identity graph: a login id authenticates (and links the
    # visitor); 127.0.0.1 is not an address of the operator's network, so nothing is
    # recognised from the network.
    for s in stored:
        assert s.recognition is not None
        assert not s.recognition.level.startswith("network"), s.recognition
        if s.event.user_id:
            assert s.recognition.level == "authenticated", (s.event.type, s.recognition)
    assert 'netcx_collect_events_total{source="segment"} 6.0' in metrics
    assert 'netcx_collect_duplicate_events_total{source="segment"} 1.0' in metrics
    by_level: dict[str, int] = {}
    for s in stored:
        assert s.recognition is not None
        by_level[s.recognition.level] = by_level.get(s.recognition.level, 0) + 1
    for level, n in by_level.items():
        assert f'netcx_collect_recognised_events_total{{level="{level}"}} {float(n)}' in metrics
    assert events_count(data) == {
        "total": 6,
        "by_source": {"segment": 6},
        "by_level": by_level,
    }


def test_segment_endpoints_refuse_bad_keys_and_name_bad_fields(tmp_path: Path) -> None:
    with collector(tmp_path / "data") as served:
        url = f"{served.base}/v1/track"
        body = {"userId": "u1", "event": "Viewed"}
        no_key = httpx.post(url, json=body)
        wrong_key = httpx.post(url, json=body, auth=("nope", ""))
        body_key = httpx.post(url, json={**body, "writeKey": WRITE_KEY})
        bad_field = httpx.post(url, json={"userId": "u1", "event": 7}, auth=(WRITE_KEY, ""))
        no_id = httpx.post(url, json={"event": "x"}, auth=(WRITE_KEY, ""))
        not_json = httpx.post(url, content=b"{nope", auth=(WRITE_KEY, ""))
        batch_bad = httpx.post(
            f"{served.base}/v1/batch",
            json={"batch": [{"type": "track", "userId": "u", "event": "ok"}, {"type": "track"}]},
            auth=(WRITE_KEY, ""),
        )
        too_big = httpx.post(
            url, json={**body, "properties": {"x": "y" * 600_000}}, auth=(WRITE_KEY, "")
        )
    assert (no_key.status_code, no_key.json()["code"]) == (401, "unauthorized")
    assert wrong_key.status_code == 401
    assert body_key.status_code == 200 and body_key.json() == {"success": True}
    assert bad_field.status_code == 400 and "$.event" in bad_field.json()["message"]
    assert no_id.status_code == 400 and "userId" in no_id.json()["message"]
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["message"]
    assert batch_bad.status_code == 400 and "$.batch[1]" in batch_bad.json()["message"]
    assert too_big.status_code == 413
