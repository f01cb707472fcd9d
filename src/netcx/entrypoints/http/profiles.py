"""Profile routes: recognise a visitor, read a profile's context, undo a wrong link."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from netcx.bootstrap import Container, now_ms
from netcx.entrypoints.http._privacy_common import (
    EpochMs,
    Id,
    caller_of,
    decode_body,
    endpoint,
    json_response,
)


class RecogniseBody(msgspec.Struct, forbid_unknown_fields=True):
    """`ip`/`port` default to the TCP peer; a backend may pass the address its client used."""

    visitor_id: Id
    purpose: str
    user_id: Id | None = None
    ip: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] | None = None
    at_ms: EpochMs | None = None


class UnmergeBody(msgspec.Struct, forbid_unknown_fields=True):
    node: Id


def routes(container: Container) -> list[BaseRoute]:
    svc = container.identity

    async def recognise(request: Request) -> Response:
        body = await decode_body(request, RecogniseBody)
        peer = request.client
        ip = body.ip or (peer.host if peer else "")
        port = body.port if body.ip else (peer.port if peer else None)
        result = await run_in_threadpool(
            svc.recognise,
            body.visitor_id,
            ip,
            port,
            body.at_ms if body.at_ms is not None else now_ms(),
            body.purpose,
            body.user_id,
            caller_of(request),
        )
        return json_response(result)

    async def context(request: Request) -> Response:
        purpose = request.query_params.get("purpose", "personalisation")
        view = await run_in_threadpool(
            svc.context, request.path_params["id"], purpose, caller_of(request)
        )
        return json_response(view)

    async def unmerge(request: Request) -> Response:
        body = await decode_body(request, UnmergeBody)
        n = await run_in_threadpool(
            svc.unmerge, request.path_params["id"], body.node, caller_of(request)
        )
        return json_response({"retracted": n})

    return [
        Route("/v1/recognitions", endpoint(container, recognise), methods=["POST"]),
        Route("/v1/profiles/{id}/context", endpoint(container, context), methods=["GET"]),
        Route("/v1/profiles/{id}/unmerge", endpoint(container, unmerge), methods=["POST"]),
    ]
