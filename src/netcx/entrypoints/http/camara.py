"""HTTP routes of CAMARA Number Verification v2 (r3.2, API 2.1.0) and its error bodies."""

from __future__ import annotations

import logging
import traceback

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from netcx.bootstrap import Container
from netcx.domain.camara import NotAuthenticatedByMobileNetwork, parse_x_correlator
from netcx.entrypoints.http.client import scope_client_address
from netcx.entrypoints.http.client import trusted_proxies as trusted_proxies_setting
from netcx.errors import (
    Forbidden,
    InvalidInput,
    NetcxError,
    NotFound,
    Unauthorized,
    Unavailable,
)
from netcx.services.number_verification import ClientEndpoint, NumberVerificationService

log = logging.getLogger(__name__)

BASE_PATH = "/number-verification/v2"
MAX_BODY_BYTES = 16 * 1024
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class MethodNotAllowed(NetcxError):
    http_status = 405


def routes(container: Container) -> list[BaseRoute]:
    """The API's routes under /number-verification/v2; none when CAMARA is not configured."""
    service = container.number_verification
    if service is None:
        return []
    api = _Api(
        service, container.settings.http.trusted_proxies, container.settings.http.client_port_header
    )
    return [
        Mount(
            BASE_PATH,
            routes=[
                Route("/verify", api.verify, methods=_ALL_METHODS),
                Route("/device-phone-number", api.device_phone_number, methods=_ALL_METHODS),
                Route("/{rest:path}", api.not_found, methods=_ALL_METHODS),
            ],
        )
    ]


class _Api:
    def __init__(
        self, service: NumberVerificationService, trusted_proxies: list[str], port_header: str
    ) -> None:
        self._service = service
        self._trusted = trusted_proxies_setting(trusted_proxies)
        self._port_header = port_header.lower().encode("latin-1")

    async def verify(self, request: Request) -> Response:
        correlator: str | None = None
        try:
            correlator = parse_x_correlator(request.headers.get("x-correlator"))
            _require_method(request, "POST")
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                raise InvalidInput(f"the request body is larger than {MAX_BODY_BYTES} bytes")
            _require_json_content_type(request, body)
            # The service may block (JWKS fetch, resolver store): keep it off the event loop.
            verified = await run_in_threadpool(
                self._service.verify,
                request.headers.get("authorization"),
                self._client(request),
                body,
                correlator,
            )
            return _json({"devicePhoneNumberVerified": verified}, 200, correlator)
        except Exception as err:  # translated once, here
            return _error(err, correlator, "phoneNumberVerify")

    async def device_phone_number(self, request: Request) -> Response:
        correlator: str | None = None
        try:
            correlator = parse_x_correlator(request.headers.get("x-correlator"))
            _require_method(request, "GET")
            number = await run_in_threadpool(
                self._service.device_phone_number,
                request.headers.get("authorization"),
                self._client(request),
                correlator,
            )
            return _json({"devicePhoneNumber": number}, 200, correlator)
        except Exception as err:
            return _error(err, correlator, "phoneNumberShare")

    async def not_found(self, request: Request) -> Response:
        correlator: str | None = None
        try:
            correlator = parse_x_correlator(request.headers.get("x-correlator"))
            raise NotFound(f"no resource {BASE_PATH}/{request.path_params['rest']}")
        except Exception as err:
            return _error(err, correlator, "unknown")

    def _client(self, request: Request) -> ClientEndpoint:
        """The device's address and source port: the TCP peer, or what a trusted proxy says."""
        address = scope_client_address(request.scope, self._trusted, self._port_header)
        if address is None:  # a peer without an IP address: no mobile line
            return ClientEndpoint(request.client.host if request.client else "", None)
        return ClientEndpoint(address.ip, address.port)


def _require_method(request: Request, method: str) -> None:
    if request.method != method:
        raise MethodNotAllowed(f"{request.url.path} accepts {method} only")


def _require_json_content_type(request: Request, body: bytes) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body.strip() and media_type != "application/json":
        raise InvalidInput("the request body must be sent with Content-Type: application/json")


# CAMARA error codes per exception (r3.2 YAML: 400, 401, 403 x2; Commonalities 0.6: the rest).
_CODES: list[tuple[type[Exception], int, str]] = [
    (InvalidInput, 400, "INVALID_ARGUMENT"),
    (Unauthorized, 401, "UNAUTHENTICATED"),
    (NotAuthenticatedByMobileNetwork, 403, NotAuthenticatedByMobileNetwork.code),
    (Forbidden, 403, "PERMISSION_DENIED"),
    (NotFound, 404, "NOT_FOUND"),
    (MethodNotAllowed, 405, "METHOD_NOT_ALLOWED"),
    (Unavailable, 503, "UNAVAILABLE"),
]


def _error(err: Exception, correlator: str | None, operation: str) -> Response:
    match = next(((st, cd) for kind, st, cd in _CODES if isinstance(err, kind)), None)
    if match is not None:
        (status, code), message = match, str(err)
    else:
        status, code, message = 500, "INTERNAL", "Unknown server error. Typically a server bug."
        # Frames only: an exception's message might quote a raw number or address.
        frames = "".join(traceback.format_list(traceback.extract_tb(err.__traceback__)))
        log.error(
            "camara %s failed: %s correlator=%s\n%s",
            operation,
            type(err).__name__,
            correlator or "-",
            frames,
        )
    log.info(
        "camara %s status=%d code=%s correlator=%s", operation, status, code, correlator or "-"
    )
    headers = {"www-authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return _json({"status": status, "code": code, "message": message}, status, correlator, headers)


def _json(
    body: dict[str, object],
    status: int,
    correlator: str | None,
    headers: dict[str, str] | None = None,
) -> Response:
    all_headers = dict(headers or {})
    if correlator is not None:
        all_headers["x-correlator"] = correlator
    return JSONResponse(body, status_code=status, headers=all_headers)
