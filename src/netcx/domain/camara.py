"""CAMARA Number Verification rules: phone-number formats, hashing, request shape, token policy."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from netcx.errors import Forbidden, InvalidInput, Unauthorized

PURPOSE = "number-verification"
"""Consent purpose checked before a device's number is used for this API."""

SCOPE_VERIFY = "number-verification:verify"
SCOPE_SHARE = "number-verification:device-phone-number:read"

# Patterns exactly as in number-verification.yaml (r3.2, API 2.1.0).
PHONE_NUMBER_PATTERN = re.compile(r"^\+[1-9][0-9]{4,14}$")
HASHED_PHONE_NUMBER_PATTERN = re.compile(r"^[a-fA-F0-9]{64}$")
X_CORRELATOR_PATTERN = re.compile(r"^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$")

REQUEST_FIELDS = ("phoneNumber", "hashedPhoneNumber")


class NotAuthenticatedByMobileNetwork(Forbidden):
    """The caller's device was not authenticated by the mobile network (token `amr` or the
    request did not arrive over one of our mobile lines)."""

    code = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK"


# ---------------------------------------------------------------- phone numbers


def parse_phone_number(value: object, field: str = "phoneNumber") -> str:
    """The E.164 number `value` (`+` and 5–15 digits, as the spec's pattern); else InvalidInput.

    Strict on purpose: the API contract is the pattern, so `0044…`, spaces or dashes are
    rejected rather than guessed at.
    """
    if not isinstance(value, str):
        raise InvalidInput("must be a string in E.164 format, e.g. +123456789", field=field)
    if not PHONE_NUMBER_PATTERN.fullmatch(value):
        raise InvalidInput(
            "must be in E.164 format: '+' then 5 to 15 digits, not starting with 0", field=field
        )
    return value


def e164_from_msisdn(msisdn: str) -> str:
    """Normalise an MSISDN as stored by the operator (digits, maybe `+`, spaces, dashes or a
    leading `00`) to E.164 with `+`; InvalidInput if it is not a valid number after that."""
    digits = re.sub(r"[\s\-().]", "", msisdn)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if not digits.isdigit():
        raise InvalidInput("stored MSISDN has characters other than digits", field="msisdn")
    return parse_phone_number("+" + digits, field="msisdn")


def hash_phone_number(e164: str) -> str:
    """SHA-256 (lower-case hex) of the E.164 number including its `+`, as the spec defines."""
    return hashlib.sha256(e164.encode("ascii")).hexdigest()


# ---------------------------------------------------------------- the verify request


@dataclass(frozen=True)
class NumberClaim:
    """The number the API consumer claims for the device: plain E.164 or its SHA-256 hex."""

    phone_number: str | None = None
    hashed_phone_number: str | None = None

    def matches(self, device_e164: str) -> bool:
        """Whether the claim is the device's number (constant-time comparison)."""
        if self.phone_number is not None:
            return hmac.compare_digest(self.phone_number, device_e164)
        assert self.hashed_phone_number is not None
        return hmac.compare_digest(self.hashed_phone_number.lower(), hash_phone_number(device_e164))


def parse_verify_request(raw: bytes) -> NumberClaim:
    """Validate a /verify body: a JSON object with exactly one of phoneNumber /
    hashedPhoneNumber; InvalidInput saying what is wrong otherwise."""
    if not raw.strip():
        raise InvalidInput("the request body is missing; expected a JSON object")
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as err:
        raise InvalidInput(f"the request body is not valid JSON: {err}") from err
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    unknown = sorted(str(k) for k in body if k not in REQUEST_FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
            "expected exactly one of phoneNumber, hashedPhoneNumber"
        )
    present = [k for k in REQUEST_FIELDS if k in body]
    if len(present) != 1:
        raise InvalidInput(
            "exactly one of phoneNumber, hashedPhoneNumber is required"
            + (" (both were given)" if len(present) == 2 else "")
        )
    if present[0] == "phoneNumber":
        return NumberClaim(phone_number=parse_phone_number(body["phoneNumber"]))
    hashed = body["hashedPhoneNumber"]
    if not isinstance(hashed, str) or not HASHED_PHONE_NUMBER_PATTERN.fullmatch(hashed):
        raise InvalidInput(
            "must be the SHA-256 of the E.164 number as 64 hexadecimal characters",
            field="hashedPhoneNumber",
        )
    return NumberClaim(hashed_phone_number=hashed)


def parse_x_correlator(value: str | None) -> str | None:
    """The request's x-correlator if it matches the spec's pattern; InvalidInput otherwise."""
    if value is None:
        return None
    if not X_CORRELATOR_PATTERN.fullmatch(value):
        raise InvalidInput(
            "must be at most 256 characters from a-z A-Z 0-9 - _ : ; . / < > { }",
            field="x-correlator",
        )
    return value


# ---------------------------------------------------------------- access tokens


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; Unauthorized otherwise."""
    if not authorization:
        raise Unauthorized("the Authorization header with a Bearer access token is missing")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <access token>'")
    return token.strip()


@dataclass(frozen=True)
class AccessToken:
    """The claims of a verified access token that this API acts on."""

    client_id: str
    scopes: frozenset[str]
    amr: tuple[str, ...]

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> AccessToken:
        """Read `client_id`/`azp`, `scope` (space-separated, RFC 9068) and `amr` (RFC 8176
        list) from verified claims; Unauthorized when malformed."""
        scope = claims.get("scope", "")
        amr = claims.get("amr", [])
        if not isinstance(scope, str):
            raise Unauthorized("access token claim 'scope' must be a space-separated string")
        if not isinstance(amr, list) or not all(isinstance(a, str) for a in amr):
            raise Unauthorized("access token claim 'amr' must be a list of strings")
        client = claims.get("client_id") or claims.get("azp") or ""
        return cls(client_id=str(client), scopes=frozenset(scope.split()), amr=tuple(amr))

    def require_scope(self, scope: str) -> None:
        """PERMISSION_DENIED unless the token was granted `scope`."""
        if scope not in self.scopes:
            raise Forbidden(f"the access token does not grant the scope {scope}")

    def require_network_authentication(self, network_methods: Iterable[str]) -> None:
        """USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK unless `amr` names a network-based or
        SIM-based method (e.g. not only `sms`, `otp` or `pwd`)."""
        if not set(self.amr) & set(network_methods):
            raise NotAuthenticatedByMobileNetwork(
                "Client must authenticate via the mobile network to use this service"
            )


# ---------------------------------------------------------------- audit


class AuditRecord(msgspec.Struct, frozen=True):
    """One use of a network resolution by this API. Never holds a raw number or address."""

    at_ms: int
    operation: str  # phoneNumberVerify | phoneNumberShare
    client_id: str
    outcome: str  # verified | not_verified | shared | no_consent | not_on_mobile_network
    purpose: str = PURPOSE
    line_id: str | None = None
    resolution_reason: str = ""
    evidence: tuple[str, ...] = ()
    correlator: str | None = None
