"""HTTP routes of CAMARA Number Verification v2 (r3.2, API 2.1.0) and its error bodies."""

from __future__ import annotations

import ipaddress
import logging
import traceback

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from netcx.bootstrap import Container
from netcx.domain.camara import NotAuthenticatedByMobileNetwork, parse_x_correlator
from netcx.errors import (
    ConfigError,
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
        try:
            self._trusted = [ipaddress.ip_network(c, strict=False) for c in trusted_proxies]
        except ValueError as err:
            raise ConfigError(f"http.trusted_proxies: {err}") from err
        self._port_header = port_header.lower()

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
        peer_ip = request.client.host if request.client else ""
        # ASGI says int; some servers (granian) hand the port over as a string.
        peer_port = _port(str(request.client.port)) if request.client else None
        peer = _ip(peer_ip)
        if peer is None:
            return ClientEndpoint(peer_ip, peer_port)
        direct = ClientEndpoint(peer.compressed, peer_port)
        if not any(peer in net for net in self._trusted):
            return direct
        return _forwarded_client(request, self._trusted, self._port_header) or direct


def _forwarded_client(
    request: Request,
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    port_header: str,
) -> ClientEndpoint | None:
    """Walk `Forwarded` (RFC 7239) or `X-Forwarded-For` from the right over trusted proxies;
    the first other hop is the client. Its port comes from `for=ip:port` or `port_header`."""
    hops: list[tuple[str, int | None]] = []
    # Several header lines count as one comma-separated list (RFC 9110 §5.3).
    forwarded = ", ".join(request.headers.getlist("forwarded"))
    if forwarded:
        for element in forwarded.split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    hops.append(_node(value.strip().strip('"')))
    else:
        xff = ", ".join(request.headers.getlist("x-forwarded-for"))
        hops = [(h.strip(), None) for h in xff.split(",") if h.strip()]
    for ip_text, port in reversed(hops):
        ip = _ip(ip_text)
        if ip is None:
            return None  # an unknown or obfuscated hop: we cannot tell who the client is
        if not any(ip in net for net in trusted):
            if port is None:
                port = _port(request.headers.get(port_header, ""))
            return ClientEndpoint(ip.compressed, port)
    return None


def _node(text: str) -> tuple[str, int | None]:
    """`ip`, `ip:port`, `[ipv6]` or `[ipv6]:port` → (ip, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    return host, _port(port_text)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _port(text: str) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        return None
    return int(text) if 0 < int(text) < 65536 else None


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
