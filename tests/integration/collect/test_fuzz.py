"""Fuzzing a running collector: schemathesis from /openapi.json and hypothesis bodies, no 5xx."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.collect.conftest import WRITE_KEY, Served, collector

pytestmark = pytest.mark.integration

AUTH = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
POST_PATHS = [
    *(f"/v1/{k}" for k in ("track", "page", "screen", "identify", "group", "alias", "batch")),
    "/com.snowplowanalytics.snowplow/tp2",
    "/v1/tag",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["type", "event", "userId", "anonymousId", "messageId", "timestamp", "sentAt", "context",
     "properties", "traits", "groupId", "previousId", "batch", "schema", "data", "events",
     "e", "eid", "co", "cx", "ue_pr", "ue_px", "dtm", "id", "ts", "consent", "props"]
)  # fmt: skip
shaped = st.dictionaries(field_names, json_values, max_size=6)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda items: json.dumps({"batch": items}).encode(), st.lists(shaped, max_size=3)),
    st.builds(
        lambda items: json.dumps(
            {
                "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
                "data": items,
            }
        ).encode(),
        st.lists(shaped, max_size=3),
    ),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with collector(tmp_path_factory.mktemp("fuzz") / "data") as s:
        yield s


@pytest.fixture(scope="module")
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base) as client:
        yield client


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(POST_PATHS), body=bodies, gzip=st.booleans())
def test_hypothesis_bodies_never_get_a_5xx(
    http: httpx.Client, path: str, body: bytes, gzip: bool
) -> None:
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    if gzip:
        headers["Content-Encoding"] = "gzip"  # often not gzip at all: must be a 400
    r = http.post(path, content=body, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code == 400:
        assert r.json()["message"]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(field_names, st.text(max_size=30), max_size=6))
def test_hypothesis_pixel_params_never_get_a_5xx(
    http: httpx.Client, params: dict[str, str]
) -> None:
    r = http.get("/i", params=params)
    assert r.status_code < 500, r.text


def test_schemathesis_finds_no_server_error(served: Served, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", f"{served.base}/openapi.json",
            "--checks", "not_a_server_error",
            "--header", f"Authorization: {AUTH}",
            "--max-examples", "10",
            "--phases", "coverage,fuzzing",
            "--seed", "1",
            "--workers", "2",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:]
    assert "Server error" not in run.stdout
    assert httpx.get(f"{served.base}/healthz").status_code == 200
