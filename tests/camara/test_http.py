"""The Number Verification HTTP API on a real `netcx serve`: bad requests, headers, errors,
consent, audit, trusted proxies — beyond the upstream feature files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netcx.domain.camara import SCOPE_SHARE, SCOPE_VERIFY, hash_phone_number
from tests.camara.authz import TestAuthorizationServer
from tests.camara.conftest import (
    E164,
    LINE_ID,
    MSISDN,
    NO_CONSENT_LINE_ID,
    CamaraServer,
    Reply,
    send,
    start_camara_server,
)

pytestmark = pytest.mark.integration

VERIFY = "/number-verification/v2/verify"
SHARE = "/number-verification/v2/device-phone-number"
JSON = {"Content-Type": "application/json"}


def auth(server: CamaraServer, scope: str = SCOPE_VERIFY) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.authz.valid(scope)}"}


def verify(
    server: CamaraServer, body: bytes | None, headers: dict[str, str] | None = None
) -> Reply:
    return send(
        server.base,
        "POST",
        VERIFY,
        {**JSON, **auth(server), **(headers or {})},
        body,
        server.device_port(),
    )


def assert_error(reply: Reply, status: int, code: str, says: str = "") -> None:
    assert reply.status == status, reply.body
    assert reply.headers["Content-Type"] == "application/json"
    body = reply.json()
    assert body["status"] == status
    assert body["code"] == code
    assert says in body["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (None, "request body is missing"),
        (b"{}", "exactly one of phoneNumber, hashedPhoneNumber"),
        (b'{"additional_property": "foo_value"}', "unknown property additional_property"),
        (
            b'{"phoneNumber": "%s", "hashedPhoneNumber": "%s"}'
            % (E164.encode(), hash_phone_number(E164).encode()),
            "both were given",
        ),
        (b'{"phoneNumber": "491700000042"}', "phoneNumber: must be in E.164"),
        (b'{"phoneNumber": "+49 170 0000042"}', "phoneNumber: must be in E.164"),
        (b'{"hashedPhoneNumber": "xyz"}', "hashedPhoneNumber: must be the SHA-256"),
        (b'{"phoneNumber": ', "not valid JSON"),
        (b'["+491700000042"]', "must be a JSON object"),
    ],
    ids=[
        "no-body",
        "empty-object",
        "unknown-field-only",
        "both-fields",
        "no-plus",
        "spaces",
        "bad-hash",
        "bad-json",
        "array",
    ],
)
def test_bad_verify_requests_get_the_specs_400(
    camara_server: CamaraServer, body: bytes | None, says: str
) -> None:
    reply = verify(camara_server, body, {"x-correlator": "bad-req-1"})
    assert_error(reply, 400, "INVALID_ARGUMENT", says)
    assert reply.headers["x-correlator"] == "bad-req-1"


def test_a_body_that_is_not_declared_json_is_refused(camara_server: CamaraServer) -> None:
    reply = verify(
        camara_server, b'{"phoneNumber": "%s"}' % E164.encode(), {"Content-Type": "text/plain"}
    )
    assert_error(reply, 400, "INVALID_ARGUMENT", "Content-Type: application/json")


def test_an_invalid_x_correlator_is_a_400_and_not_echoed(camara_server: CamaraServer) -> None:
    reply = verify(
        camara_server, b'{"phoneNumber": "%s"}' % E164.encode(), {"x-correlator": "no spaces!"}
    )
    assert_error(reply, 400, "INVALID_ARGUMENT", "x-correlator")
    assert "x-correlator" not in reply.headers


def test_success_answers_are_exactly_application_json_with_the_correlator(
    camara_server: CamaraServer,
) -> None:
    reply = verify(
        camara_server, b'{"phoneNumber": "%s"}' % E164.encode(), {"x-correlator": "ok-1:{a}"}
    )
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["x-correlator"] == "ok-1:{a}"
    assert reply.json() == {"devicePhoneNumberVerified": True}


def test_401_carries_a_bearer_challenge(camara_server: CamaraServer) -> None:
    reply = send(camara_server.base, "GET", SHARE, {}, None, camara_server.device_port())
    assert_error(reply, 401, "UNAUTHENTICATED", "Authorization header")
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_for_the_wrong_audience_is_401(camara_server: CamaraServer) -> None:
    token = camara_server.authz.token(aud="another-api")
    reply = send(
        camara_server.base,
        "GET",
        SHARE,
        {"Authorization": f"Bearer {token}"},
        None,
        camara_server.device_port(),
    )
    assert_error(reply, 401, "UNAUTHENTICATED")


def test_a_request_from_no_mobile_line_is_403_not_authenticated_by_mobile_network(
    camara_server: CamaraServer,
) -> None:
    # An ephemeral source port: 127.0.0.1 with that port is bound to no line.
    reply = send(camara_server.base, "GET", SHARE, auth(camara_server, SCOPE_SHARE), None)
    assert_error(
        reply, 403, "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK", "mobile"
    )


def test_a_line_without_number_verification_consent_is_403_permission_denied(
    camara_server: CamaraServer,
) -> None:
    reply = send(
        camara_server.base,
        "GET",
        SHARE,
        auth(camara_server, SCOPE_SHARE),
        None,
        camara_server.no_consent_ports[0],
    )
    assert_error(reply, 403, "PERMISSION_DENIED", "consent")


def test_unknown_paths_and_wrong_methods_get_camara_errors(camara_server: CamaraServer) -> None:
    reply = send(camara_server.base, "GET", "/number-verification/v2/nope", {}, None)
    assert_error(reply, 404, "NOT_FOUND")
    reply = send(camara_server.base, "GET", VERIFY, auth(camara_server), None)
    assert_error(reply, 405, "METHOD_NOT_ALLOWED", "POST")


def test_every_use_is_audited_with_the_line_pseudonym_and_no_raw_number(
    camara_server: CamaraServer,
) -> None:
    before = len(camara_server.audit_lines())
    verify(camara_server, b'{"phoneNumber": "%s"}' % E164.encode(), {"x-correlator": "audit-1"})
    send(
        camara_server.base,
        "GET",
        SHARE,
        auth(camara_server, SCOPE_SHARE),
        None,
        camara_server.no_consent_ports[1],
    )
    new = camara_server.audit_lines()[before:]
    assert [(r["operation"], r["outcome"], r["line_id"]) for r in new] == [
        ("phoneNumberVerify", "verified", LINE_ID),
        ("phoneNumberShare", "no_consent", NO_CONSENT_LINE_ID),
    ]
    assert new[0]["purpose"] == "number-verification"
    assert new[0]["correlator"] == "audit-1"
    assert new[0]["client_id"] == "test-app-1"
    assert new[0]["evidence"] == ["fixture_binding:bindings[0]"]
    text = (camara_server.data_dir / "audit" / "camara.jsonl").read_text()
    for raw in (MSISDN, "127.0.0.1", hash_phone_number(E164)):
        assert raw not in text


# ---------------------------------------------------------------- trusted proxies


@pytest.fixture(scope="module")
def proxied_server(
    tmp_path_factory: pytest.TempPathFactory, authz: TestAuthorizationServer
) -> Iterator[CamaraServer]:
    """A server behind a trusted edge proxy (127.0.0.1), keys from a JWKS file."""
    tmp = tmp_path_factory.mktemp("camara-proxied")
    jwks = authz.write_jwks(tmp / "jwks.json")
    env = {"NETCX_HTTP__TRUSTED_PROXIES": '["127.0.0.1/32"]', "NETCX_CAMARA__JWKS_FILE": str(jwks)}
    yield from start_camara_server(tmp, authz, env)


@pytest.mark.parametrize(
    "headers",
    [
        {"Forwarded": 'for="203.0.113.10:27310";proto=https'},
        {"Forwarded": 'for="203.0.113.10:27310", for=127.0.0.1'},
        {"X-Forwarded-For": "203.0.113.10", "X-Client-Port": "27310"},
    ],
    ids=["forwarded-with-port", "forwarded-two-hops", "xff-and-port-header"],
)
def test_a_trusted_proxy_names_the_device_address_and_port(
    proxied_server: CamaraServer, headers: dict[str, str]
) -> None:
    reply = send(
        proxied_server.base, "GET", SHARE, {**auth(proxied_server, SCOPE_SHARE), **headers}, None
    )
    assert reply.status == 200, reply.body
    assert reply.json() == {"devicePhoneNumber": E164}


def test_behind_the_proxy_the_port_still_decides(proxied_server: CamaraServer) -> None:
    for headers in (
        {"Forwarded": 'for="203.0.113.10:40000"'},  # another subscriber's port block
        {"X-Forwarded-For": "203.0.113.10"},  # no port: a shared address is not a line
    ):
        reply = send(
            proxied_server.base,
            "GET",
            SHARE,
            {**auth(proxied_server, SCOPE_SHARE), **headers},
            None,
        )
        assert_error(reply, 403, "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK")


def test_forwarding_headers_from_an_untrusted_peer_are_ignored(
    camara_server: CamaraServer,
) -> None:
    # camara_server trusts no proxy: the claimed address must not be believed.
    reply = send(
        camara_server.base,
        "GET",
        SHARE,
        {**auth(camara_server, SCOPE_SHARE), "Forwarded": 'for="203.0.113.10:27310"'},
        None,
    )
    assert_error(reply, 403, "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK")


def test_without_camara_settings_the_api_is_not_served(tmp_path: Path) -> None:
    from tests.servers import netcx_server

    with netcx_server(tmp_path / "data") as base:
        reply = send(base, "GET", SHARE, {}, None)
    assert reply.status == 404
