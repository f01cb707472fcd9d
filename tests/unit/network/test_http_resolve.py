"""GET /v1/resolve in-process: API key, validation, audit and the consent-gate hook."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from starlette.testclient import TestClient

from netcx.bootstrap import build_container
from netcx.config import HttpSettings, StorageSettings, load_settings
from netcx.domain.resolution import Resolution
from netcx.entrypoints.http.app import create_app


class DenyMarketing:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def gate(self, resolution: Resolution, purpose: str, at_ms: int) -> Resolution:
        self.calls.append(purpose)
        return Resolution.unknown("no_consent") if purpose == "marketing" else resolution


def test_key_validation_gate_and_audit(tmp_path: Path) -> None:
    settings = load_settings().model_copy(
        update={
            "storage": StorageSettings(data_dir=tmp_path),
            "http": HttpSettings(api_keys=[SecretStr("k-1")]),
        }
    )
    container = build_container(settings)
    gate = DenyMarketing()
    container.resolve_consent_gate = gate
    client = TestClient(create_app(container))
    q = {"ip": "240.0.0.1", "port": "443", "at": "2024-06-10T06:20:00Z", "purpose": "analytics"}
    assert client.get("/v1/resolve", params=q).status_code == 401
    assert client.get("/v1/resolve", params=q, headers={"X-API-Key": "nope"}).status_code == 401
    ok = client.get("/v1/resolve", params=q, headers={"Authorization": "Bearer k-1"})
    assert ok.status_code == 200 and ok.json() == {"level": "unknown", "reason": "not_ours"}
    denied = client.get(
        "/v1/resolve", params={**q, "purpose": "marketing"}, headers={"X-API-Key": "k-1"}
    )
    assert denied.json()["reason"] == "no_consent"
    assert gate.calls == ["analytics", "marketing"]
    for bad, field in (({"port": "70000"}, "port"), ({"at": "yesterday"}, "at"),
                       ({"purpose": ""}, "purpose"), ({"ip": ""}, "ip")):  # fmt: skip
        r = client.get("/v1/resolve", params={**q, **bad}, headers={"X-API-Key": "k-1"})
        assert r.status_code == 400 and field in r.json()["error"], bad
    audit = (tmp_path / "audit" / "resolve").glob("*.jsonl")
    lines = [x for f in audit for x in f.read_text().splitlines()]
    assert len(lines) == 2 and '"purpose":"marketing"' in lines[1]
    assert "240.0.0.1" not in "".join(lines)
