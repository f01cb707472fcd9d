"""The app in-process: client address through trusted proxies, and no raw number or address in
the logs on any path."""

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
from netcx.bootstrap import build_container
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
    tmp_path: Path,
    authz: TestAuthorizationServer,
    resolver: object | None = None,
    peer: tuple[str, int] = ("10.1.2.3", 40000),
) -> AppClient:
    lines = FixtureLines(
        [FixtureLine("ln1_dev", MSISDN, ("number-verification",))],
        [
            FixtureBinding(DEVICE_IP, "ln1_dev", (27300, 27363)),
            FixtureBinding("2001:db8:4000::1", "ln1_dev", (1000, 1999)),
        ],
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
    settings = load_settings(
        http={"trusted_proxies": ["10.0.0.0/8"]},
        storage={"data_dir": tmp_path / "data"},
        collect={"event_log": "memory"},
    )
    container = build_container(settings)
    container.number_verification = service
    # The TestClient's peer is our trusted edge proxy, which forwards the device address.
    return AppClient(create_app(container), peer)


def test_no_raw_number_or_address_in_logs(
    authz: TestAuthorizationServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
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
    authz: TestAuthorizationServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
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


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Forwarded": 'for="[2001:db8:4000::1]:1500"'}, 200),
        ({"Forwarded": 'For="203.0.113.10:27310";proto=https;by=10.0.0.1'}, 200),
        # A trusted inner proxy is skipped; the hop before it is the device.
        ({"Forwarded": 'for="203.0.113.10:27310", for=10.9.9.9'}, 200),
        # An unknown hop nearest to us: nobody can say who the client is.
        ({"Forwarded": 'for="203.0.113.10:27310", for=unknown'}, 403),
        ({"Forwarded": 'for="[2001:db8:4000::1]"'}, 403),  # no port
        ({"X-Forwarded-For": "198.51.100.7, 203.0.113.10", "X-Client-Port": "27310"}, 200),
        ({"X-Forwarded-For": "203.0.113.10", "X-Client-Port": "99999"}, 403),
        ({"X-Forwarded-For": "203.0.113.10", "X-Client-Port": "27310x"}, 403),
        ({}, 403),  # the proxy itself is no mobile line
    ],
)
def test_the_device_address_comes_from_the_nearest_untrusted_hop(
    authz: TestAuthorizationServer, tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    client = client_for(tmp_path, authz)
    auth = {"Authorization": f"Bearer {authz.valid(SCOPE_SHARE)}"}
    reply = client.get(SHARE, headers={**auth, **headers})
    assert reply.status_code == status, reply.text


def test_forwarded_header_lines_form_one_list(
    authz: TestAuthorizationServer, tmp_path: Path
) -> None:
    client = client_for(tmp_path, authz)
    headers = [
        ("Authorization", f"Bearer {authz.valid(SCOPE_SHARE)}"),
        ("Forwarded", "for=198.51.100.1"),
        ("Forwarded", 'for="203.0.113.10:27310"'),
    ]
    assert client.get(SHARE, headers=headers).json() == {"devicePhoneNumber": E164}


def test_an_ipv4_mapped_peer_is_recognised_as_the_trusted_proxy(
    authz: TestAuthorizationServer, tmp_path: Path
) -> None:
    client = client_for(tmp_path, authz, peer=("::ffff:10.1.2.3", 40000))
    headers = {
        "Authorization": f"Bearer {authz.valid(SCOPE_SHARE)}",
        "Forwarded": 'for="203.0.113.10:27310"',
    }
    assert client.get(SHARE, headers=headers).status_code == 200
