"""Shared plumbing of the identity/consent/privacy routes: auth, caller, errors, bodies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from netcx.bootstrap import Container
from netcx.entrypoints.http.api_keys import ApiKeys, key_id
from netcx.errors import InvalidInput, NetcxError, Unauthorized

log = logging.getLogger("netcx.http.privacy")

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")

_encoder = msgspec.json.Encoder()

Id = Annotated[str, msgspec.Meta(max_length=256)]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


def caller_of(request: Request) -> str:
    """Who is asking, for the audit log: the channel the caller names (web, app,
    call-centre …) and, with API keys configured, which key it used (`web@key#1a2b…`), so
    a caller cannot pass for another."""
    caller = request.headers.get("x-netcx-caller", "api").strip()
    if not caller or len(caller) > 64:
        raise InvalidInput("must be 1 to 64 characters", field="X-Netcx-Caller")
    key_id: str | None = getattr(request.state, "key_id", None)
    return caller if key_id is None else f"{caller}@{key_id}"


def check_api_key(container: Container, request: Request) -> None:
    """With `http.api_keys` configured, a caller must send one as a Bearer token; its id
    (a hash prefix, never the key) is kept on the request for the audit log."""
    keys = ApiKeys(container.settings.http.api_keys)
    if not keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not keys.known(token):
        raise Unauthorized("missing or unknown API key (Authorization: Bearer <key>)")
    request.state.key_id = key_id(token)


def endpoint(container: Container, handler: Handler) -> Handler:
    """Authenticate, then map NetcxError to its HTTP status with a JSON message (once)."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        try:
            check_api_key(container, request)
            return await handler(request)
        except NetcxError as err:
            if err.http_status >= 500:
                log.error("event=error path=%s error=%s", request.url.path, err)
            return json_response({"error": str(err)}, err.http_status)

    return run


async def decode_body(request: Request, kind: type[T]) -> T:
    """The JSON body as `kind`; a bad body is InvalidInput naming the field."""
    raw = await request.body()
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as err:
        raise InvalidInput(f"invalid body: {err}") from err
    except msgspec.DecodeError as err:
        raise InvalidInput(f"body is not valid JSON: {err}") from err


def int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"must be an integer, got {value[:32]!r}", field=name) from None
