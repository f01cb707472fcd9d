"""Decoding Segment, Snowplow and tag payloads into Events; bad input names the field."""

from __future__ import annotations

import base64
import contextlib
import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netcx.adapters.collect import segment, snowplow, tag
from netcx.adapters.collect.common import Arrival
from netcx.domain.events import ClientAddress, ConsentState, consent_from_categories
from netcx.errors import InvalidInput

ARRIVAL = Arrival(1_700_000_000_000, ClientAddress("198.51.100.1", 40000), "test-agent")
CONSENT = "iglu:io.netcx/consent/jsonschema/1-0-0"
SP_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_segment_batch_context_is_merged_under_message_context() -> None:
    body = {
        "batch": [
            {
                "type": "page",
                "anonymousId": 17,
                "context": {"page": {"url": "https://t.example/a", "title": "A"}, "locale": "fi"},
            }
        ],
        "context": {"locale": "en", "consent": {"categoryPreferences": {"Advertising": True}}},
        "sentAt": "2026-01-01T00:00:01Z",
    }
    (e,) = segment.decode("batch", json.dumps(body).encode(), ARRIVAL).events
    assert (e.visitor_id, e.url, e.title) == ("17", "https://t.example/a", "A")
    assert e.contexts[0]["locale"] == "fi"
    assert e.consent == ConsentState(marketing=True)
    assert e.sent_ms == 1_767_225_601_000
    assert e.client == ARRIVAL.client and e.user_agent == "test-agent"


def test_consent_categories_map_to_purposes_and_refusal_wins() -> None:
    assert consent_from_categories(
        {"Analytics": True, "marketing": True, "Advertising": False, "Other": True, "x": 1}
    ) == ConsentState(analytics=True, marketing=False)


def test_segment_consent_of_each_message_is_its_own_even_when_repeated() -> None:
    def consent(prefs: dict[str, object]) -> ConsentState:
        message = {"type": "page", "anonymousId": "v", "context": {"consent": prefs}}
        body = json.dumps({"batch": [message, message]}).encode()
        first, second = segment.decode("batch", body, ARRIVAL).events
        assert first.consent == second.consent
        return first.consent

    assert consent({"categoryPreferences": {"Analytics": True}}) == ConsentState(analytics=True)
    # 1 is not true: equal as a Python value, yet it states nothing about the purpose.
    assert consent({"categoryPreferences": {"Analytics": 1}}) == ConsentState()
    assert consent({"categoryPreferences": {"Analytics": False}}) == ConsentState(analytics=False)


def test_snowplow_base64_contexts_and_self_describing_event_without_padding() -> None:
    event = {"schema": "iglu:x/ue", "data": {"schema": "iglu:com.example/a/1", "data": {"k": 1}}}
    contexts = {"schema": "iglu:x/co", "data": [{"schema": CONSENT, "data": {"analytics": False}}]}
    params = {
        "e": "ue",
        "eid": "ev-1",
        "dtm": "1700000000123",
        "ue_px": b64(event),
        "cx": b64(contexts),
        "aid": "shop",
    }  # fmt: skip
    (e,) = snowplow.decode_get(params, ARRIVAL)
    assert e.type == "self_describing" and e.name == "iglu:com.example/a/1"
    assert e.properties == {
        "aid": "shop",
        "event": {"schema": "iglu:com.example/a/1", "data": {"k": 1}},
    }
    assert e.consent == ConsentState(analytics=False)
    assert e.occurred_ms == 1_700_000_000_123


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"e": "zz"}, "data[0].e"),
        ({"eid": "x"}, "data[0].e"),
        ({"e": "pv", "dtm": "yesterday"}, "data[0].dtm"),
        ({"e": "pv", "cx": "%%%"}, "data[0].cx"),
        ({"e": "pv", "co": "[1]"}, "data[0].co"),
        ({"e": "pv", "co": '{"schema": "s", "data": [1]}'}, "data[0].co"),
        ({"e": "ue"}, "data[0].ue_pr"),
    ],
)
def test_snowplow_errors_name_the_parameter(params: dict[str, str], field: str) -> None:
    body = json.dumps({"schema": SP_SCHEMA, "data": [params]}).encode()
    with pytest.raises(InvalidInput) as err:
        snowplow.decode_post(body, ARRIVAL)
    assert str(err.value).startswith(f"{field}: ")


def test_tag_events_take_the_cookie_visitor_id_not_the_body() -> None:
    body = {
        "events": [{"id": "abcdefgh-1", "type": "click", "name": "buy", "visitor_id": "forged"}],
        "consent": {"analytics": True},
    }
    (e,) = tag.decode(json.dumps(body).encode(), ARRIVAL, "cookie-vid-123456")
    assert (e.visitor_id, e.name, e.consent) == (
        "cookie-vid-123456",
        "buy",
        ConsentState(analytics=True),
    )


def test_tag_rejects_short_ids() -> None:
    with pytest.raises(InvalidInput, match=r"\$\.events\[0\]\.id"):
        tag.decode(b'{"events": [{"id": "x", "type": "page"}]}', ARRIVAL, "v" * 16)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(body=st.one_of(st.binary(max_size=40), json_values.map(lambda v: msgspec.json.encode(v))))
def test_decoders_only_ever_raise_invalid_input(body: bytes) -> None:
    for decode in (
        *(lambda b, k=k: segment.decode(k, b, ARRIVAL) for k in (*segment.KINDS, "batch")),
        lambda b: snowplow.decode_post(b, ARRIVAL),
        lambda b: tag.decode(b, ARRIVAL, "v" * 16),
    ):
        with contextlib.suppress(InvalidInput):
            decode(body)
