"""The real `snowplow-tracker` Python client (POST tp2 and GET /i) works against netcx unchanged."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from snowplow_tracker import (
    Emitter,
    PageView,
    ScreenView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)

from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from tests.integration.collect.conftest import collector, events_count

pytestmark = pytest.mark.integration

CONSENT = SelfDescribingJson(
    "iglu:io.netcx/consent/jsonschema/1-0-0",
    {"analytics": True, "personalisation": True, "marketing": False},
)
DEVICE = SelfDescribingJson("iglu:com.example/device/jsonschema/1-0-0", {"model": "Pixel 9"})


@pytest.mark.parametrize(("method", "base64"), [("post", True), ("post", False), ("get", True)])
def test_snowplow_tracker_events_are_stored_with_contexts(
    tmp_path: Path, method: str, base64: bool
) -> None:
    data = tmp_path / "data"
    failures: list[object] = []
    with collector(data) as served:
        port = int(served.base.rsplit(":", 1)[1])
        emitter = Emitter(
            "127.0.0.1",
            protocol="http",
            port=port,
            method=method,  # type: ignore[arg-type]
            batch_size=3,
            on_failure=lambda n, evts: failures.append((n, evts)),
        )
        subject = Subject().set_domain_user_id("duid-1").set_user_id("user-9")
        tracker = Tracker("ns", emitter, subject=subject, app_id="shop", encode_base64=base64)
        tracker.track(PageView("https://t.example/fibre", "Fibre", context=[CONSENT]))
        tracker.track(StructuredEvent("tariff", "compare", "S-to-L", context=[CONSENT, DEVICE]))
        intent = SelfDescribingJson("iglu:com.example/cancel_intent/jsonschema/1-0-0", {"step": 2})
        tracker.track(SelfDescribing(intent, context=[CONSENT]))
        tracker.track(ScreenView(str(uuid.uuid4()), "Roaming"))
        tracker.flush()
    assert failures == []
    stored = [s.event for s in SegmentEventLog(data / "events").read()]
    assert sorted(e.type for e in stored) == [
        "page_view",
        "self_describing",
        "self_describing",
        "struct",
    ]
    by_name = {e.name or e.type: e for e in stored}
    page = by_name["page_view"]
    assert (page.url, page.title, page.visitor_id, page.user_id) == (
        "https://t.example/fibre",
        "Fibre",
        "duid-1",
        "user-9",
    )
    assert page.consent.analytics is True and page.consent.marketing is False
    assert page.properties["aid"] == "shop"
    assert page.occurred_ms is not None and page.sent_ms is not None
    struct = by_name["compare"]
    assert struct.properties["se_ca"] == "tariff"
    assert {c["schema"] for c in struct.contexts} == {
        "iglu:io.netcx/consent/jsonschema/1-0-0",
        "iglu:com.example/device/jsonschema/1-0-0",
    }
    intent = by_name["iglu:com.example/cancel_intent/jsonschema/1-0-0"]
    assert intent.properties["event"]["data"] == {"step": 2}
    screens = [e for e in stored if e.screen]
    assert [e.screen for e in screens] == ["Roaming"]
    assert len({e.event_id for e in stored}) == 4
    assert events_count(data)["by_source"] == {"snowplow": 4}
