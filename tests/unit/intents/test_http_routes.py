"""The /v1/intents routes in-process: API keys, bad bodies, and the read API."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from netcx.bootstrap import build_container
from netcx.config import load_settings
from netcx.entrypoints.http.app import create_app


def _client(tmp_path: Path, keys: list[str]) -> TestClient:
    settings = load_settings(
        storage={"data_dir": tmp_path},
        http={"api_keys": keys},
        intents={"state_backend": "memory"},
    )
    return TestClient(create_app(build_container(settings)))


def test_keys_are_required_when_configured(tmp_path: Path) -> None:
    http = _client(tmp_path, ["s3cret"])
    assert http.get("/v1/intents/vi_1?at_ms=1").status_code == 401
    assert http.get("/v1/intents/vi_1?at_ms=1", headers={"x-api-key": "nope"}).status_code == 401
    ok = http.get("/v1/intents/vi_1?at_ms=1", headers={"authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert ok.json() == {"subject_id": "vi_1", "intents": []}


def test_scoring_then_reading_active_intents(tmp_path: Path) -> None:
    http = _client(tmp_path, [])
    for i, url in enumerate(["https://x.de/roaming", "https://x.de/roaming/eu"]):
        r = http.post("/v1/intents/events", json={"subjects": ["vi_1"], "ts_ms": i, "url": url})
        assert r.status_code == 200
    assert [e["intent"] for e in r.json()["emerged"]] == ["roaming"]
    [active] = http.get("/v1/intents/vi_1", params={"at_ms": 10}).json()["intents"]
    assert active["intent"] == "roaming"
    assert [e["value"] for e in active["evidence"]] == ["/roaming", "/roaming/eu"]
    assert http.get("/v1/households/hh_9/journey").json() == {
        "household_id": "hh_9",
        "journey": None,
    }


def test_bad_bodies_name_the_problem(tmp_path: Path) -> None:
    http = _client(tmp_path, [])
    r = http.post("/v1/intents/events", json={"subjects": ["v"], "ts_ms": "late"})
    assert r.status_code == 400
    assert "ts_ms" in r.json()["error"]
    r = http.post("/v1/intents/events", json={"subjects": ["v"], "ts_ms": 1, "colour": "red"})
    assert r.status_code == 400
    assert "colour" in r.json()["error"]
