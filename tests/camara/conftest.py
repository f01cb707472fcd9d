"""CAMARA fixtures: a test authorization server, a real `netcx serve` with a fixture line
source, and the step definitions for the upstream r3.2 feature files."""

from __future__ import annotations

import errno
import http.client
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pytest_bdd import given, parsers, then, when
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from netcx.domain.camara import SCOPE_SHARE, SCOPE_VERIFY, hash_phone_number
from tests.camara.authz import AUDIENCE, ISSUER, NETWORK_AMR, TestAuthorizationServer
from tests.servers import netcx_server

SPEC_DIR = Path(__file__).parent / "spec"
SPEC: dict[str, Any] = yaml.safe_load((SPEC_DIR / "number-verification.yaml").read_text())
_REGISTRY: Registry[Any] = Registry().with_resource(
    "urn:nv", Resource(contents=SPEC, specification=DRAFT4)
)
# The feature files name two schemas that r3.2 defines inline in the request body.
_SCHEMA_ALIASES = {
    "#/components/schemas/PhoneNumber": (
        "#/components/schemas/NumberVerificationRequestBody/properties/phoneNumber"
    ),
    "#/components/schemas/HashedPhoneNumber": (
        "#/components/schemas/NumberVerificationRequestBody/properties/hashedPhoneNumber"
    ),
}

SCOPES = {"phoneNumberVerify": SCOPE_VERIFY, "phoneNumberShare": SCOPE_SHARE}

LINE_ID = "ln1_camara_test_device"
MSISDN = "491700000042"  # as the CRM stores it: E.164 digits without '+'
E164 = "+491700000042"
OTHER_E164 = "+491700000077"
NO_CONSENT_LINE_ID = "ln1_camara_no_consent"
PORTS_PER_LINE = 200


def oas_validator(ref: str) -> jsonschema.Draft4Validator:
    """A validator for the schema at `ref` in the r3.2 YAML (OAS 3.0 ≈ JSON Schema draft 4)."""
    pointer = _SCHEMA_ALIASES.get(ref, ref)
    return jsonschema.Draft4Validator({"$ref": f"urn:nv{pointer}"}, registry=_REGISTRY)


def operation(operation_id: str) -> tuple[str, str]:
    """(method, path) of an operationId in the spec."""
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if op.get("operationId") == operation_id:
                return method.upper(), path
    raise KeyError(operation_id)


@dataclass
class CamaraServer:
    base: str
    data_dir: Path
    device_ports: range  # source ports on 127.0.0.1 bound to LINE_ID
    no_consent_ports: range
    authz: TestAuthorizationServer
    _next: int = 0

    def device_port(self) -> int:
        """A fresh source port bound to the test line (fresh: avoids TIME_WAIT reuse)."""
        port = self.device_ports[self._next % len(self.device_ports)]
        self._next += 1
        return port

    def audit_lines(self) -> list[dict[str, Any]]:
        path = self.data_dir / "audit" / "camara.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def write_fixture(path: Path, device_ports: range, no_consent_ports: range) -> Path:
    fixture = {
        "lines": [
            {"line_id": LINE_ID, "msisdn": MSISDN, "consent": ["number-verification"]},
            {"line_id": NO_CONSENT_LINE_ID, "msisdn": "491700000043", "consent": []},
        ],
        "bindings": [
            {
                "ip": "127.0.0.1",
                "ports": [device_ports.start, device_ports.stop - 1],
                "line_id": LINE_ID,
            },
            {
                "ip": "127.0.0.1",
                "ports": [no_consent_ports.start, no_consent_ports.stop - 1],
                "line_id": NO_CONSENT_LINE_ID,
            },
            # The same line behind the operator's CGNAT, as a trusted edge proxy reports it.
            {"ip": "203.0.113.10", "ports": [27300, 27363], "line_id": LINE_ID},
        ],
    }
    path.write_text(yaml.safe_dump(fixture))
    return path


@pytest.fixture(scope="session")
def authz() -> TestAuthorizationServer:
    return TestAuthorizationServer()


def start_camara_server(
    tmp: Path, authz: TestAuthorizationServer, key_env: dict[str, str]
) -> Iterator[CamaraServer]:
    """`netcx serve` with CAMARA on and the fixture line source; `key_env` names the JWKS
    (NETCX_CAMARA__JWKS_URL or __JWKS_FILE) and any other settings."""
    # Source ports below Linux's ephemeral range (32768+), so no other socket takes them.
    first = random.randrange(20000, 30000, 10)
    device_ports = range(first, first + PORTS_PER_LINE)
    no_consent_ports = range(device_ports.stop, device_ports.stop + 20)
    env = {
        "NETCX_CAMARA__ISSUER": ISSUER,
        "NETCX_CAMARA__AUDIENCE": AUDIENCE,
        "NETCX_CAMARA__FIXTURE_FILE": str(
            write_fixture(tmp / "fixture.yaml", device_ports, no_consent_ports)
        ),
        **key_env,
    }
    data_dir = tmp / "data"
    with netcx_server(data_dir, env=env) as base:
        yield CamaraServer(base, data_dir, device_ports, no_consent_ports, authz)


@pytest.fixture(scope="session")
def camara_server(
    tmp_path_factory: pytest.TempPathFactory, authz: TestAuthorizationServer
) -> Iterator[CamaraServer]:
    """`netcx serve` with CAMARA on, its JWKS served by the test authorization server."""
    with authz.serve() as jwks_url:
        env = {"NETCX_CAMARA__JWKS_URL": jwks_url}
        yield from start_camara_server(tmp_path_factory.mktemp("camara"), authz, env)


# ---------------------------------------------------------------- HTTP from a chosen source port


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    base: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    source_port: int | None = None,
) -> Reply:
    """One HTTP request from 127.0.0.1:`source_port` (any port when None)."""
    host, port = base.removeprefix("http://").split(":")
    for _ in range(5):
        conn = http.client.HTTPConnection(
            host, int(port), timeout=10, source_address=("127.0.0.1", source_port or 0)
        )
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
        finally:
            conn.close()
    raise OSError(errno.EADDRINUSE, f"source port {source_port} stayed in use")


# ---------------------------------------------------------------- step definitions


@dataclass
class Ctx:
    """One scenario's request under construction and its response."""

    server: CamaraServer
    operation_id: str
    base_path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # a dict (sent as JSON), raw bytes, or None (no body)
    source_port: int | None = None
    expected_number: str | None = None
    reply: Reply | None = None

    def response(self) -> Reply:
        # One upstream scenario (400.3) has no "When … is sent": send on first look.
        if self.reply is None:
            self.send()
        assert self.reply is not None
        return self.reply

    def send(self) -> None:
        method, path = operation(self.operation_id)
        raw = json.dumps(self.body).encode() if isinstance(self.body, dict) else self.body
        if method == "GET":
            raw = None
        self.reply = send(
            self.server.base,
            method,
            self.base_path + path,
            self.headers,
            raw,
            self.source_port,
        )


@pytest.fixture
def ctx(camara_server: CamaraServer, operation_id: str) -> Ctx:
    return Ctx(camara_server, operation_id)


def pytest_bdd_apply_tag(tag: str, function: object) -> bool:
    # Upstream tags are scenario ids (with dots), not pytest markers.
    return True


def property_path(jsonpath: str) -> str:
    assert jsonpath.startswith("$."), jsonpath
    return jsonpath[2:]


@given(parsers.parse('the resource "{path}" as base url'))
def _base_url(ctx: Ctx, path: str) -> None:
    ctx.base_path = path


@given(parsers.parse('the header "{name}" is set to "{value}"'))
def _header_value(ctx: Ctx, name: str, value: str) -> None:
    ctx.headers[name] = value


@given(parsers.parse('the header "x-correlator" complies with the schema at "{ref}"'))
def _correlator(ctx: Ctx, ref: str) -> None:
    value = str(uuid.uuid4())
    oas_validator(ref).validate(value)
    ctx.headers["x-correlator"] = value


TOKEN_KINDS = (
    "a valid access token",
    "an expired access token",
    "an invalid access token",
    "an access token without the required scope",
    "a token for which neither Network-based nor SIM-based authentication was used",
    "a valid access token which does not identify a single phone number",
)


def _token(ctx: Ctx, kind: str) -> str:
    authz, scope = ctx.server.authz, SCOPES[ctx.operation_id]
    return {
        "a valid access token": lambda: authz.valid(scope),
        "an expired access token": lambda: authz.expired(scope),
        "an invalid access token": lambda: authz.bad_signature(scope),
        "an access token without the required scope": authz.without_scope,
        "a token for which neither Network-based nor SIM-based authentication was used": (
            lambda: authz.not_by_mobile_network(scope)
        ),
        "a valid access token which does not identify a single phone number": (
            lambda: authz.valid(scope)
        ),
    }[kind]()


@given(parsers.re(rf'the header "Authorization" is set to (?P<kind>{"|".join(TOKEN_KINDS)})'))
def _authorization(ctx: Ctx, kind: str) -> None:
    ctx.headers["Authorization"] = f"Bearer {_token(ctx, kind)}"
    if "does not identify a single phone number" in kind:
        ctx.source_port = None  # the request comes from no line at all


@given(parsers.parse('the header "{name}" is removed'))
def _remove_header(ctx: Ctx, name: str) -> None:
    ctx.headers.pop(name, None)


@given("the token has been obtained by a supported authentication method")
def _network_token(ctx: Ctx) -> None:
    ctx.headers["Authorization"] = f"Bearer {_token(ctx, 'a valid access token')}"
    assert set(NETWORK_AMR) & {"network", "sim"}


@given(
    parsers.re(
        r"a valid (phone number|testing phoneNumber) supported by the service, "
        r"identified by the token"
    )
)
def _device_line(ctx: Ctx) -> None:
    # Network-based authentication: the device is the line behind the request's own
    # address and source port; the fixture binds these source ports to the test line.
    ctx.source_port = ctx.server.device_port()
    ctx.expected_number = E164


@given("a valid phone number identified by the token and provided in the request body")
def _device_line_in_body(ctx: Ctx) -> None:
    _device_line(ctx)
    ctx.body = {"phoneNumber": E164}


@given(
    parsers.re(
        r"the request body is set (by default to a request body compliant with the schema|"
        r"to a valid request body)"
    )
)
def _default_body(ctx: Ctx) -> None:
    ctx.body = {"phoneNumber": E164}
    oas_validator("#/components/schemas/NumberVerificationRequestBody").validate(ctx.body)


@given("the request body is not included")
def _no_body(ctx: Ctx) -> None:
    ctx.body = None


@given(parsers.parse('the request body is set to "{raw}"'))
def _raw_body(ctx: Ctx, raw: str) -> None:
    ctx.body = raw.encode()


@given(
    parsers.parse(
        'the body property "{path}" is set to the phone number identified by the access token'
    )
)
def _body_own_number(ctx: Ctx, path: str) -> None:
    assert ctx.expected_number is not None
    ctx.body = {property_path(path): ctx.expected_number}


@given(
    parsers.parse(
        'the body property "{path}" is set to a valid phone number different from the one '
        "identified by the access token"
    )
)
def _body_other_number(ctx: Ctx, path: str) -> None:
    ctx.body = {property_path(path): OTHER_E164}


@given(
    parsers.parse(
        'the body property "{path}" is set to the phone number identified by the access token, '
        "hashed in SHA-256 (in hexadecimal representation)"
    )
)
def _body_own_hash(ctx: Ctx, path: str) -> None:
    assert ctx.expected_number is not None
    ctx.body = {property_path(path): hash_phone_number(ctx.expected_number)}


@given(
    parsers.parse(
        'the body property "{path}" is set to a valid phone number different from the one '
        "identified by the access token, hashed in SHA-256 (in hexadecimal representation)"
    )
)
def _body_other_hash(ctx: Ctx, path: str) -> None:
    ctx.body = {property_path(path): hash_phone_number(OTHER_E164)}


@given(parsers.parse('the request body property "{path}" is set to "{value}"'))
def _body_property(ctx: Ctx, path: str, value: str) -> None:
    ctx.body = {**(ctx.body or {}), property_path(path): value}


@given(parsers.parse('the request body does not contain neither "{first}" nor "{second}"'))
def _body_without(ctx: Ctx, first: str, second: str) -> None:
    for path in (first, second):
        ctx.body.pop(property_path(path), None)
    assert ctx.body  # only the unknown property is left


@given(parsers.parse('the request body property "{path}" is set to a valid phone number'))
def _body_valid_number(ctx: Ctx, path: str) -> None:
    ctx.body = {**(ctx.body or {}), property_path(path): OTHER_E164}


@given(parsers.parse('the same phone number is compliant with OAS schema at "{ref}"'))
def _number_complies(ctx: Ctx, ref: str) -> None:
    oas_validator(ref).validate(ctx.body["phoneNumber"])


@given(
    parsers.parse(
        'the request body property "{path}" is set to a valid phone number compliant with '
        'OAS schema at "{ref}"'
    )
)
def _body_valid_hash(ctx: Ctx, path: str, ref: str) -> None:
    value = hash_phone_number(OTHER_E164)
    oas_validator(ref).validate(value)
    ctx.body = {**(ctx.body or {}), property_path(path): value}


@given(
    parsers.parse(
        'the request body property "{path}" does not comply with the OAS schema at "{ref}"'
    )
)
def _body_invalid_number(ctx: Ctx, path: str, ref: str) -> None:
    value = "+49 170 0000042"
    assert not oas_validator(ref).is_valid(value)
    ctx.body = {property_path(path): value}


@when(parsers.parse('the request "{operation_id}" is sent'))
def _send(ctx: Ctx, operation_id: str) -> None:
    assert operation_id == ctx.operation_id
    ctx.send()


@then(parsers.re(r'the response status code is "?(?P<status>\d{3})"?'))
def _status(ctx: Ctx, status: str) -> None:
    reply = ctx.response()
    assert reply.status == int(status), reply.body


@then(parsers.parse('the response header "{name}" is "{value}"'))
def _response_header(ctx: Ctx, name: str, value: str) -> None:
    assert ctx.response().headers.get(name) == value


@then(
    parsers.parse(
        'the response header "{name}" has same value as the request header "{request_name}"'
    )
)
def _echoed_header(ctx: Ctx, name: str, request_name: str) -> None:
    assert ctx.response().headers.get(name) == ctx.headers[request_name]


@then(parsers.parse('the response body complies with the OAS schema at "{ref}"'))
def _body_complies(ctx: Ctx, ref: str) -> None:
    oas_validator(ref).validate(ctx.response().json())


@then(parsers.re(r'the response property "(?P<path>[^"]+)" is (?P<value>\d+|"[^"]*")'))
def _property_is(ctx: Ctx, path: str, value: str) -> None:
    assert ctx.response().json()[property_path(path)] == json.loads(value)


@then(parsers.re(r'the response property "(?P<path>[^"]+)" == (?P<value>true|false)'))
def _property_equals(ctx: Ctx, path: str, value: str) -> None:
    assert ctx.response().json()[property_path(path)] is (value == "true")


@then(parsers.parse('the response property "{path}" contains a user friendly text'))
def _friendly(ctx: Ctx, path: str) -> None:
    text = ctx.response().json()[property_path(path)]
    assert isinstance(text, str)
    assert len(text.split()) >= 3, text  # a sentence, not a code


@then(
    parsers.parse(
        'the response property "{path}" is equal to the phone number associated with the '
        "access token"
    )
)
def _property_is_device_number(ctx: Ctx, path: str) -> None:
    assert ctx.response().json()[property_path(path)] == ctx.expected_number
