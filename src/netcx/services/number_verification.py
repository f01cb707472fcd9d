"""CAMARA Number Verification: the device's number is the line behind the request, right now."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from netcx.domain.camara import (
    PURPOSE,
    SCOPE_SHARE,
    SCOPE_VERIFY,
    AccessToken,
    AuditRecord,
    NotAuthenticatedByMobileNetwork,
    bearer_token,
    e164_from_msisdn,
    parse_verify_request,
)
from netcx.domain.resolution import Level
from netcx.errors import Forbidden, InvalidInput, NetcxError
from netcx.ports import (
    AccessTokenVerifier,
    LineDirectory,
    NumberVerificationAudit,
    NumberVerificationConsent,
    Resolver,
)

log = logging.getLogger(__name__)

NOT_ON_MOBILE_NETWORK = (
    "Client must authenticate via the mobile network to use this service: "
    "this request did not arrive over one of the operator's mobile lines"
)


@dataclass(frozen=True)
class ClientEndpoint:
    """Where the request came from: the device's public address and source port, if known."""

    ip: str
    port: int | None


class NumberVerificationService:
    """Answers phoneNumberVerify / phoneNumberShare for an already verified access token.

    The device is identified by network-based authentication at request time: the client
    address and port of the API request are resolved to a line, whose MSISDN (from the line
    directory) is the device phone number. The raw number never leaves this class except as
    the API answer; logs and audit records carry the line pseudonym only.
    """

    def __init__(
        self,
        tokens: AccessTokenVerifier,
        resolver: Resolver,
        directory: LineDirectory,
        consent: NumberVerificationConsent,
        audit: NumberVerificationAudit,
        network_amr: Iterable[str],
        now_ms: Callable[[], int],
    ) -> None:
        self._tokens = tokens
        self._resolver = resolver
        self._directory = directory
        self._consent = consent
        self._audit = audit
        self._network_amr = frozenset(network_amr)
        self._now_ms = now_ms

    def verify(
        self,
        authorization: str | None,
        client: ClientEndpoint,
        body: bytes,
        correlator: str | None,
    ) -> bool:
        """phoneNumberVerify: whether the claimed (plain or hashed) number is the device's.

        The token is checked before the body (401/403 before 400).
        """
        token = self._authorise(authorization, SCOPE_VERIFY)
        claim = parse_verify_request(body)
        device_number, audit = self._device_number("phoneNumberVerify", token, client, correlator)
        verified = claim.matches(device_number)
        self._record(audit, "verified" if verified else "not_verified")
        return verified

    def device_phone_number(
        self, authorization: str | None, client: ClientEndpoint, correlator: str | None
    ) -> str:
        """phoneNumberShare: the device's number in E.164."""
        token = self._authorise(authorization, SCOPE_SHARE)
        device_number, audit = self._device_number("phoneNumberShare", token, client, correlator)
        self._record(audit, "shared")
        return device_number

    def _authorise(self, authorization: str | None, scope: str) -> AccessToken:
        token = self._tokens.verify(bearer_token(authorization))
        token.require_scope(scope)
        token.require_network_authentication(self._network_amr)
        return token

    def _device_number(
        self, operation: str, token: AccessToken, client: ClientEndpoint, correlator: str | None
    ) -> tuple[str, AuditRecord]:
        at_ms = self._now_ms()
        resolution = self._resolver.resolve(client.ip, client.port, at_ms)
        audit = AuditRecord(
            at_ms=at_ms,
            operation=operation,
            client_id=token.client_id,
            outcome="",
            line_id=resolution.line_id,
            resolution_reason=resolution.reason,
            evidence=tuple(f"{e.kind}:{e.ref}" for e in resolution.evidence),
            correlator=correlator,
        )
        if resolution.level is not Level.LINE or resolution.line_id is None:
            self._record(audit, "not_on_mobile_network")
            raise NotAuthenticatedByMobileNetwork(NOT_ON_MOBILE_NETWORK)
        if not self._consent.allows(resolution.line_id, PURPOSE, at_ms):
            self._record(audit, "no_consent")
            raise Forbidden("the user has not consented to the purpose number-verification")
        msisdn = self._directory.msisdn_of(resolution.line_id)
        if msisdn is None:
            self._record(audit, "not_on_mobile_network")
            raise NotAuthenticatedByMobileNetwork(NOT_ON_MOBILE_NETWORK)
        try:
            return e164_from_msisdn(msisdn), audit
        except InvalidInput as err:
            # Bad data in our own directory is our fault, not the caller's (500, not 400).
            raise NetcxError(
                f"line {resolution.line_id}: the stored MSISDN is not a valid E.164 number"
            ) from err

    def _record(self, audit: AuditRecord, outcome: str) -> None:
        entry = msgspec.structs.replace(audit, outcome=outcome)
        self._audit.record(entry)
        log.info(
            "camara %s outcome=%s client=%s line=%s reason=%s correlator=%s",
            entry.operation,
            outcome,
            entry.client_id,
            entry.line_id or "-",
            entry.resolution_reason,
            entry.correlator or "-",
        )
