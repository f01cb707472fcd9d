"""The identity/consent/privacy routes never answer 5xx, whatever the path or body;
a rejected request gets 400/404 with a message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from netcx.bootstrap import build_container
from netcx.config import load_settings
from netcx.entrypoints.http.app import create_app


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    data = tmp_path_factory.mktemp("fuzz")  # the embedded default store (SQLite)
    container = build_container(load_settings(storage={"data_dir": data}))
    return TestClient(create_app(container), raise_server_exceptions=False)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "visitor_id",
        "purpose",
        "user_id",
        "ip",
        "port",
        "at_ms",
        "granted",
        "source",
        "text_version",
        "node",
    ]
)
bodies = st.dictionaries(fields, json_values, max_size=6) | json_values
subjects = st.sampled_from(
    ["visitor:a", "subscriber:S1", "vi1_" + "a" * 24, "account:A1"]
) | st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/?#%"),
    min_size=1,
    max_size=30,
)
purposes = st.sampled_from(
    ["analytics", "personalisation", "marketing", "number-verification"]
) | st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)


def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(subject=subjects, purpose=purposes, body=bodies)
@example(subject=".", purpose="analytics", body={})  # the client makes it /v1/consent/analytics
@example(subject="..", purpose="analytics", body={})  # and /v1/analytics
def test_no_5xx(http: TestClient, subject: str, purpose: str, body: Any) -> None:
    check(http.put(f"/v1/consent/{subject}/{purpose}", json=body))
    check(http.delete(f"/v1/consent/{subject}/{purpose}"))
    check(http.get(f"/v1/consent/{subject}"))
    check(http.post("/v1/recognitions", json=body))
    check(http.get(f"/v1/profiles/{subject}/context", params={"purpose": purpose}))
    check(http.post(f"/v1/profiles/{subject}/unmerge", json=body))
    check(http.get(f"/v1/subjects/{subject}/export"))
    check(http.get("/v1/audit", params={"subject": subject, "limit": str(body)[:5]}))
    big = {"granted": True, "source": "s", "text_version": "v", "at_ms": 2**64 - 1}
    check(http.put(f"/v1/consent/{subject}/{purpose}", json=big))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=64))
def test_garbage_bodies_are_400(http: TestClient, raw: bytes) -> None:
    r = http.put("/v1/consent/visitor:a/analytics", content=raw)
    check(r)
    assert r.status_code in (200, 400)


def test_wrong_field_is_named(http: TestClient) -> None:
    r = http.put(
        "/v1/consent/visitor:a/analytics",
        json={"granted": "yes", "source": "a", "text_version": "v"},
    )
    assert r.status_code == 400 and "granted" in r.json()["error"]
    r = http.post("/v1/recognitions", json={"visitor_id": "", "purpose": "analytics"})
    assert r.status_code == 400 and "visitor_id" in r.json()["error"]
    r = http.post("/v1/recognitions", json={"visitor_id": "v", "purpose": "analytics", "colour": 1})
    assert r.status_code == 400 and "colour" in r.json()["error"]
