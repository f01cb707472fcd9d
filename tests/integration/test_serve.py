"""`netcx serve` starts as a real process and answers /healthz."""

from pathlib import Path

import httpx
import pytest

from netcx import __version__
from tests.servers import netcx_server

pytestmark = pytest.mark.integration


def test_serve_answers_healthz(tmp_path: Path) -> None:
    with netcx_server(tmp_path / "data") as base:
        r = httpx.get(f"{base}/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__}
