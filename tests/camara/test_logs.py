"""No raw phone number or client address reaches the logs, on any path (in-process app)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from netcx.adapters.auth.jwks import FileJwks, JwtAccessTokenVerifier
from netcx.adapters.camara.audit import MemoryAuditLog
from netcx.adapters.camara.fixture import FixtureBinding, FixtureLine, FixtureLines
from netcx.bootstrap import Container, build_pseudonymizer
from netcx.config import load_settings
from netcx.domain.camara import SCOPE_SHARE, SCOPE_VERIFY, hash_phone_number
from netcx.domain.resolution import Resolution
from netcx.entrypoints.http.app import create_app
from netcx.services.number_verification import NumberVerificationService
from tests.camara.authz import AUDIENCE, ISSUER, TestAuthorizationServer


class AppClient:
    """Calls the ASGI app in-process, as if from `peer` (our trusted edge proxy)."""

    def __init__(self, app: Starlette, peer: tuple[str, int]) -> None:
        self._transport = httpx.ASGITransport(app=app, client=peer)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=self._transport, base_url="http://nv") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


MSISDN, E164 = "491700000042", "+491700000042"
DEVICE_IP, DEVICE_PORT = "203.0.113.10", 27310
VERIFY = "/number-verification/v2/verify"
SHARE = "/number-verification/v2/device-phone-number"


class ExplodingResolver:
    """A resolver bug whose message quotes the raw address."""

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        raise ValueError(f"cannot resolve {ip}:{port}")


def client_for(
    tmp_path: Path, authz: TestAuthorizationServer, resolver: object | None = None
) -> AppClient:
    lines = FixtureLines(
        [FixtureLine("ln1_dev", MSISDN, ("number-verification",))],
        [FixtureBinding(DEVICE_IP, "ln1_dev", (27300, 27363))],
    )
    tokens = JwtAccessTokenVerifier(
        FileJwks(authz.write_jwks(tmp_path / "jwks.json")),
        ISSUER,
        AUDIENCE,
        now_s=lambda: int(time.time()),
    )
    service = NumberVerificationService(
        tokens,
        resolver or lines,  # type: ignore[arg-type]
        lines,
        lines,
        MemoryAuditLog(),
        network_amr=["network"],
        now_ms=lambda: time.time_ns() // 1_000_000,
    )
    settings = load_settings(http={"trusted_proxies": ["10.0.0.0/8"]})
    container = Container(settings, build_pseudonymizer(settings), number_verification=service)
    # The TestClient's peer is our trusted edge proxy, which forwards the device address.
    return AppClient(create_app(container), ("10.1.2.3", 40000))


def test_no_raw_number_or_address_in_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    authz = TestAuthorizationServer()
    client = client_for(tmp_path, authz)
    fwd = {"Forwarded": f'for="{DEVICE_IP}:{DEVICE_PORT}"', "x-correlator": "log-1"}
    caplog.set_level(logging.DEBUG)
    verify_auth = {"Authorization": f"Bearer {authz.valid(SCOPE_VERIFY)}", **fwd}
    share_auth = {"Authorization": f"Bearer {authz.valid(SCOPE_SHARE)}", **fwd}
    assert client.post(VERIFY, json={"phoneNumber": E164}, headers=verify_auth).json() == {
        "devicePhoneNumberVerified": True
    }
    hashed = hash_phone_number(E164)
    assert (
        client.post(VERIFY, json={"hashedPhoneNumber": hashed}, headers=verify_auth).status_code
        == 200
    )
    assert client.get(SHARE, headers=share_auth).json() == {"devicePhoneNumber": E164}
    assert (
        client.post(VERIFY, json={"phoneNumber": "+4917"}, headers=verify_auth).status_code == 400
    )
    assert client.get(SHARE, headers=fwd).status_code == 401
    other = {"Forwarded": f'for="{DEVICE_IP}:50000"'}
    assert client.get(SHARE, headers={**share_auth, **other}).status_code == 403
    assert "outcome=shared" in caplog.text  # the logs do describe what happened
    for raw in (MSISDN, DEVICE_IP, hashed, "10.1.2.3"):
        assert raw not in caplog.text


def test_a_server_bug_is_a_500_and_logged_without_its_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    authz = TestAuthorizationServer()
    client = client_for(tmp_path, authz, resolver=ExplodingResolver())
    caplog.set_level(logging.DEBUG)
    reply = client.get(
        SHARE,
        headers={
            "Authorization": f"Bearer {authz.valid(SCOPE_SHARE)}",
            "Forwarded": f'for="{DEVICE_IP}:{DEVICE_PORT}"',
        },
    )
    assert reply.status_code == 500
    assert reply.json()["code"] == "INTERNAL"
    assert reply.headers["content-type"] == "application/json"
    assert "ValueError" in caplog.text
    assert "resolve" in caplog.text  # the frames say where
    assert DEVICE_IP not in caplog.text
