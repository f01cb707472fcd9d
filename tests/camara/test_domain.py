"""Number Verification domain rules: E.164, hashing, request shape, x-correlator, token policy."""

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netcx.domain.camara import (
    SCOPE_SHARE,
    SCOPE_VERIFY,
    AccessToken,
    NotAuthenticatedByMobileNetwork,
    NumberClaim,
    bearer_token,
    e164_from_msisdn,
    hash_phone_number,
    parse_phone_number,
    parse_verify_request,
    parse_x_correlator,
)
from netcx.errors import Forbidden, InvalidInput, Unauthorized

SPEC_PHONE = re.compile(r"^\+[1-9][0-9]{4,14}$")


@pytest.mark.parametrize("number", ["+12345", "+123456789", "+491700000042", "+123456789012345"])
def test_valid_numbers_are_returned_unchanged(number: str) -> None:
    assert parse_phone_number(number) == number


@pytest.mark.parametrize(
    "number",
    ["123456789", "+0123456789", "+1234", "+1234567890123456", "+12 345 678", "+1234a678", "", 42],
)
def test_malformed_numbers_are_rejected_with_the_field_named(number: object) -> None:
    with pytest.raises(InvalidInput, match="phoneNumber"):
        parse_phone_number(number)


@given(st.text(max_size=20))
def test_phone_number_parser_accepts_exactly_the_spec_pattern(text: str) -> None:
    if SPEC_PHONE.match(text) and text.isascii():
        assert parse_phone_number(text) == text
    else:
        with pytest.raises(InvalidInput):
            parse_phone_number(text)


@pytest.mark.parametrize(
    ("stored", "e164"),
    [
        ("491700000042", "+491700000042"),
        ("34600111222", "+34600111222"),
        ("+34 600-111-222", "+34600111222"),
        ("0034600111222", "+34600111222"),
    ],
)
def test_stored_msisdns_normalise_to_e164(stored: str, e164: str) -> None:
    assert e164_from_msisdn(stored) == e164


def test_a_stored_msisdn_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="msisdn"):
        e164_from_msisdn("34x600")


def test_hash_is_sha256_hex_of_the_number_with_plus() -> None:
    assert hash_phone_number("+123456789") == hashlib.sha256(b"+123456789").hexdigest()
    assert len(hash_phone_number("+123456789")) == 64


def test_claims_match_plain_and_hashed_in_any_hex_case() -> None:
    device = "+34600111222"
    assert NumberClaim(phone_number=device).matches(device)
    assert not NumberClaim(phone_number="+34600111223").matches(device)
    digest = hash_phone_number(device)
    assert NumberClaim(hashed_phone_number=digest.upper()).matches(device)
    assert not NumberClaim(hashed_phone_number=hash_phone_number("+34600111223")).matches(device)


def test_verify_request_with_one_field_parses() -> None:
    assert parse_verify_request(b'{"phoneNumber": "+34600111222"}') == NumberClaim(
        phone_number="+34600111222"
    )
    digest = "a" * 64
    assert parse_verify_request(b'{"hashedPhoneNumber": "%s"}' % digest.encode()) == NumberClaim(
        hashed_phone_number=digest
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "missing"),
        (b"   ", "missing"),
        (b"{", "not valid JSON"),
        (b"[]", "JSON object"),
        (b"{}", "exactly one of"),
        (b'{"additional_property": "foo_value"}', "unknown property additional_property"),
        (b'{"phoneNumber": "+34600111222", "x": 1}', "unknown property x"),
        (b'{"phoneNumber": "+34600111222", "hashedPhoneNumber": "%s"}' % (b"a" * 64), "both"),
        (b'{"phoneNumber": "34600111222"}', "phoneNumber: must be in E.164"),
        (b'{"phoneNumber": null}', "phoneNumber"),
        (b'{"hashedPhoneNumber": "abc"}', "hashedPhoneNumber"),
        (b'{"hashedPhoneNumber": "%s"}' % (b"g" * 64), "hashedPhoneNumber"),
    ],
)
def test_bad_verify_requests_say_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        parse_verify_request(body)


def test_x_correlator_follows_the_spec_pattern() -> None:
    assert parse_x_correlator(None) is None
    ok = "b4333c46-49c0-4f62-80d7-f0ef930f1c46:;./<>{}_"
    assert parse_x_correlator(ok) == ok
    for bad in ("has space", "é", "x" * 257, "a,b"):
        with pytest.raises(InvalidInput, match="x-correlator"):
            parse_x_correlator(bad)


def test_bearer_token_is_read_from_the_authorization_header() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer  abc") == "abc"
    for bad in (None, "", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"):
        with pytest.raises(Unauthorized):
            bearer_token(bad)


def token(**claims: object) -> AccessToken:
    base: dict[str, object] = {
        "sub": "u",
        "client_id": "app",
        "scope": f"openid {SCOPE_VERIFY}",
        "amr": ["network"],
        "exp": 10,
    }
    return AccessToken.from_claims({**base, **claims})


def test_scope_is_required() -> None:
    token().require_scope(SCOPE_VERIFY)
    with pytest.raises(Forbidden, match=SCOPE_SHARE):
        token().require_scope(SCOPE_SHARE)


def test_client_id_falls_back_to_azp() -> None:
    assert AccessToken.from_claims({"azp": "app-2", "exp": 1}).client_id == "app-2"


@pytest.mark.parametrize(
    ("amr", "accepted"),
    [
        (["network"], True),
        (["sim"], True),
        (["network", "pwd"], True),
        (["sms", "otp"], False),
        (["pwd"], False),
        ([], False),
    ],
)
def test_only_network_or_sim_based_authentication_is_accepted(
    amr: list[str], accepted: bool
) -> None:
    t = token(amr=amr)
    if accepted:
        t.require_network_authentication({"network", "sim"})
    else:
        with pytest.raises(NotAuthenticatedByMobileNetwork):
            t.require_network_authentication({"network", "sim"})


def test_a_token_without_amr_is_not_network_authenticated() -> None:
    t = AccessToken.from_claims({"scope": SCOPE_VERIFY, "exp": 1})
    with pytest.raises(NotAuthenticatedByMobileNetwork):
        t.require_network_authentication({"network"})


@pytest.mark.parametrize("claims", [{"scope": ["a"]}, {"amr": "network"}, {"amr": [1]}])
def test_malformed_scope_or_amr_claims_are_unauthenticated(claims: dict[str, object]) -> None:
    with pytest.raises(Unauthorized):
        token(**claims)
