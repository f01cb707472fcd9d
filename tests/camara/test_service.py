"""NumberVerificationService with in-memory fakes: the device's number is the resolved line's."""

import logging
import time
from pathlib import Path

import pytest

from netcx.adapters.auth.jwks import FileJwks, JwtAccessTokenVerifier
from netcx.adapters.camara.audit import JsonlAuditLog, MemoryAuditLog
from netcx.adapters.camara.fixture import FixtureBinding, FixtureLine, FixtureLines
from netcx.domain.camara import (
    SCOPE_SHARE,
    SCOPE_VERIFY,
    NotAuthenticatedByMobileNetwork,
    hash_phone_number,
)
from netcx.errors import ConfigError, Forbidden, InvalidInput, Unauthorized
from netcx.services.number_verification import ClientEndpoint, NumberVerificationService
from tests.camara.authz import AUDIENCE, CLIENT_ID, ISSUER, TestAuthorizationServer

MSISDN = "491700000042"
E164 = "+491700000042"
DEVICE = ClientEndpoint("203.0.113.10", 27310)
NOW_MS = 1_750_000_000_000


@pytest.fixture(scope="module")
def authz() -> TestAuthorizationServer:
    return TestAuthorizationServer()


@pytest.fixture
def lines() -> FixtureLines:
    return FixtureLines(
        lines=[
            FixtureLine("ln1_mobile", MSISDN, ("number-verification",)),
            FixtureLine("ln1_noconsent", "491700000043", ("analytics",)),
            FixtureLine("ln1_fixed", None, ("number-verification",)),
        ],
        bindings=[
            FixtureBinding("203.0.113.10", "ln1_mobile", (27300, 27363)),
            FixtureBinding("203.0.113.10", "ln1_noconsent", (27364, 27427)),
            FixtureBinding("198.18.0.7", "ln1_fixed"),
            FixtureBinding("2001:db8:4000::1", "ln1_mobile", None, 0, NOW_MS - 1),
        ],
    )


@pytest.fixture
def audit() -> MemoryAuditLog:
    return MemoryAuditLog()


@pytest.fixture
def service(
    authz: TestAuthorizationServer, lines: FixtureLines, audit: MemoryAuditLog, tmp_path: Path
) -> NumberVerificationService:
    tokens = JwtAccessTokenVerifier(
        FileJwks(authz.write_jwks(tmp_path / "jwks.json")),
        ISSUER,
        AUDIENCE,
        now_s=lambda: int(time.time()),
    )
    return NumberVerificationService(
        tokens, lines, lines, lines, audit, network_amr={"network", "sim"}, now_ms=lambda: NOW_MS
    )


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_verify_true_and_false_plain_and_hashed(
    service: NumberVerificationService, authz: TestAuthorizationServer, audit: MemoryAuditLog
) -> None:
    auth = bearer(authz.valid(SCOPE_VERIFY))
    assert service.verify(auth, DEVICE, b'{"phoneNumber": "%s"}' % E164.encode(), "c-1")
    assert not service.verify(auth, DEVICE, b'{"phoneNumber": "+491700000099"}', None)
    hashed = hash_phone_number(E164).encode()
    assert service.verify(auth, DEVICE, b'{"hashedPhoneNumber": "%s"}' % hashed, None)
    other = hash_phone_number("+491700000099").encode()
    assert not service.verify(auth, DEVICE, b'{"hashedPhoneNumber": "%s"}' % other, None)
    assert [r.outcome for r in audit.records] == [
        "verified",
        "not_verified",
        "verified",
        "not_verified",
    ]
    first = audit.records[0]
    assert first.line_id == "ln1_mobile"
    assert first.client_id == CLIENT_ID
    assert first.purpose == "number-verification"
    assert first.correlator == "c-1"
    assert first.evidence == ("fixture_binding:bindings[0]",)
    assert first.at_ms == NOW_MS


def test_share_returns_the_e164_number_of_the_resolved_line(
    service: NumberVerificationService, authz: TestAuthorizationServer, audit: MemoryAuditLog
) -> None:
    assert service.device_phone_number(bearer(authz.valid(SCOPE_SHARE)), DEVICE, None) == E164
    assert audit.records[-1].outcome == "shared"


def test_the_port_selects_the_line_behind_a_shared_address(
    service: NumberVerificationService, authz: TestAuthorizationServer
) -> None:
    other_port = ClientEndpoint("203.0.113.10", 27400)
    with pytest.raises(Forbidden, match="consent"):
        service.device_phone_number(bearer(authz.valid(SCOPE_SHARE)), other_port, None)
    without_port = ClientEndpoint("203.0.113.10", None)
    with pytest.raises(NotAuthenticatedByMobileNetwork):
        service.device_phone_number(bearer(authz.valid(SCOPE_SHARE)), without_port, None)


@pytest.mark.parametrize(
    "client",
    [
        ClientEndpoint("240.0.0.1", 1234),  # not ours
        ClientEndpoint("198.18.0.7", 1234),  # a fixed line: no MSISDN
        ClientEndpoint("2001:db8:4000::1", 1),  # binding expired before now
    ],
)
def test_a_request_not_from_a_mobile_line_is_not_authenticated_by_the_network(
    service: NumberVerificationService,
    authz: TestAuthorizationServer,
    audit: MemoryAuditLog,
    client: ClientEndpoint,
) -> None:
    with pytest.raises(NotAuthenticatedByMobileNetwork):
        service.verify(
            bearer(authz.valid(SCOPE_VERIFY)), client, b'{"phoneNumber": "+12345"}', None
        )
    assert audit.records[-1].outcome == "not_on_mobile_network"


def test_token_problems_come_before_body_problems(
    service: NumberVerificationService, authz: TestAuthorizationServer, audit: MemoryAuditLog
) -> None:
    with pytest.raises(Unauthorized):
        service.verify(None, DEVICE, b"", None)
    with pytest.raises(Unauthorized):
        service.verify(bearer(authz.expired(SCOPE_VERIFY)), DEVICE, b"", None)
    with pytest.raises(Forbidden):
        service.verify(bearer(authz.valid(SCOPE_SHARE)), DEVICE, b"", None)
    with pytest.raises(NotAuthenticatedByMobileNetwork):
        service.verify(bearer(authz.not_by_mobile_network(SCOPE_VERIFY)), DEVICE, b"", None)
    with pytest.raises(InvalidInput):
        service.verify(bearer(authz.valid(SCOPE_VERIFY)), DEVICE, b"", None)
    assert audit.records == []  # nothing was resolved


def test_no_raw_number_or_address_in_logs_or_audit(
    service: NumberVerificationService,
    authz: TestAuthorizationServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = bearer(authz.valid(SCOPE_VERIFY))
    service.verify(auth, DEVICE, b'{"phoneNumber": "%s"}' % E164.encode(), "c-2")
    service.device_phone_number(bearer(authz.valid(SCOPE_SHARE)), DEVICE, None)
    assert "ln1_mobile" in caplog.text
    for raw in (MSISDN, DEVICE.ip, hash_phone_number(E164)):
        assert raw not in caplog.text


@pytest.mark.parametrize("kind", ["memory", "jsonl"])
def test_audit_logs_keep_every_record_in_order(kind: str, tmp_path: Path) -> None:
    from netcx.domain.camara import AuditRecord

    log = MemoryAuditLog() if kind == "memory" else JsonlAuditLog(tmp_path / "a" / "camara.jsonl")
    entries = [
        AuditRecord(at_ms=1, operation="phoneNumberShare", client_id="a", outcome="shared"),
        AuditRecord(
            at_ms=2,
            operation="phoneNumberVerify",
            client_id="b",
            outcome="no_consent",
            line_id="ln1_x",
            evidence=("port_block:b1",),
            correlator="c",
        ),
    ]
    for entry in entries:
        log.record(entry)
    assert log.read() == entries


def test_fixture_file_errors_name_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "fixture.yaml"
    path.write_text("lines: []\nbindings:\n  - {ip: 203.0.113.1, line_id: nope}\n")
    with pytest.raises(ConfigError, match=r"bindings\[0\].*nope"):
        FixtureLines.from_file(path)
    path.write_text("lines:\n  - {line_id: a, msisdn: '1', colour: red}\n")
    with pytest.raises(ConfigError, match="colour"):
        FixtureLines.from_file(path)
    path.write_text("bindings:\n  - {ip: 999.1.1.1, line_id: a}\nlines: [{line_id: a}]\n")
    with pytest.raises(ConfigError, match=r"bindings\[0\]\.ip"):
        FixtureLines.from_file(path)


def test_a_bad_msisdn_in_our_directory_is_a_server_error_not_a_400(
    authz: TestAuthorizationServer, audit: MemoryAuditLog, tmp_path: Path
) -> None:
    from netcx.errors import NetcxError

    broken = FixtureLines(
        [FixtureLine("ln1_bad", "49-17x", ("number-verification",))],
        [FixtureBinding("203.0.113.10", "ln1_bad")],
    )
    tokens = JwtAccessTokenVerifier(
        FileJwks(authz.write_jwks(tmp_path / "jwks.json")), ISSUER, AUDIENCE, now_s=lambda: 0
    )
    service = NumberVerificationService(
        tokens, broken, broken, broken, audit, network_amr={"network"}, now_ms=lambda: NOW_MS
    )
    token = authz.token(now_s=0)
    with pytest.raises(NetcxError) as caught:
        service.device_phone_number(bearer(token), DEVICE, None)
    assert not isinstance(caught.value, InvalidInput)
    assert "49-17x" not in str(caught.value)
