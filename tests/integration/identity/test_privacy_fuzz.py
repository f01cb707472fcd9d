"""schemathesis against the identity/consent/privacy OpenAPI document of a running server:
no 5xx, answers conform to the documented status codes and schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import netcx_server

pytestmark = pytest.mark.integration

API_KEY = "fuzz-key"


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    env = {"NETCX_HTTP__API_KEYS": json.dumps([API_KEY])}
    with netcx_server(tmp_path / "data", env=env) as base:
        doc = httpx.get(f"{base}/v1/privacy/openapi.json", timeout=5).json()
        assert "/v1/consent/{subject}/{purpose}" in doc["paths"]
        checks = "not_a_server_error,status_code_conformance,response_schema_conformance"
        run = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "run", f"{base}/v1/privacy/openapi.json",
                "--checks", checks,
                "--header", f"Authorization: Bearer {API_KEY}",
                "--max-examples", "25",
                "--phases", "coverage,fuzzing",
                "--seed", "1",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=400,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-6000:]
        assert "Tested: 10" in run.stdout, run.stdout[-3000:]
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
