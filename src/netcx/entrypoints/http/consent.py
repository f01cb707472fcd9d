"""Consent routes: set, revoke and read a subject's decisions per purpose."""

from __future__ import annotations

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from netcx.bootstrap import Container
from netcx.entrypoints.http._privacy_common import (
    EpochMs,
    Id,
    caller_of,
    decode_body,
    endpoint,
    json_response,
)


class DecisionBody(msgspec.Struct, forbid_unknown_fields=True):
    granted: bool
    source: Id
    text_version: Id
    at_ms: EpochMs | None = None


class RevokeBody(msgspec.Struct, forbid_unknown_fields=True):
    source: Id = "api"
    text_version: Id = "revocation"
    at_ms: EpochMs | None = None


def routes(container: Container) -> list[BaseRoute]:
    svc = container.identity

    async def put_decision(request: Request) -> Response:
        body = await decode_body(request, DecisionBody)
        decision = await run_in_threadpool(
            svc.set_consent,
            request.path_params["subject"],
            request.path_params["purpose"],
            body.granted,
            body.source,
            body.text_version,
            caller_of(request),
            body.at_ms,
        )
        return json_response(decision)

    async def revoke(request: Request) -> Response:
        body = await decode_body(request, RevokeBody)
        decision = await run_in_threadpool(
            svc.set_consent,
            request.path_params["subject"],
            request.path_params["purpose"],
            False,
            body.source,
            body.text_version,
            caller_of(request),
            body.at_ms,
        )
        return json_response(decision)

    async def read(request: Request) -> Response:
        view = await run_in_threadpool(svc.consent_view, request.path_params["subject"])
        return json_response(view)

    one = "/v1/consent/{subject}/{purpose}"
    return [
        Route(one, endpoint(container, put_decision), methods=["PUT"]),
        Route(one, endpoint(container, revoke), methods=["DELETE"]),
        Route("/v1/consent/{subject}", endpoint(container, read), methods=["GET"]),
    ]
