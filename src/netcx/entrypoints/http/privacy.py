"""Data-subject rights and audit routes: export (Art. 15/20), erasure (Art. 17), audit log,
retention purge."""

from __future__ import annotations

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from netcx.bootstrap import Container
from netcx.entrypoints.http._privacy_common import caller_of, endpoint, int_param, json_response
from netcx.entrypoints.http.privacy_openapi import openapi_document


def routes(container: Container) -> list[BaseRoute]:
    svc = container.identity

    async def export(request: Request) -> Response:
        data = await run_in_threadpool(svc.export, request.path_params["id"], caller_of(request))
        return json_response(data)

    async def erase(request: Request) -> Response:
        receipt = await run_in_threadpool(svc.erase, request.path_params["id"], caller_of(request))
        return json_response(receipt)

    async def audit(request: Request) -> Response:
        records = await run_in_threadpool(
            svc.read_audit,
            request.query_params.get("subject"),
            int_param(request, "since_ms", 0),
            int_param(request, "limit", 100),
        )
        return json_response({"records": records})

    async def purge(request: Request) -> Response:
        counts = await run_in_threadpool(svc.purge_retention, caller_of(request))
        return json_response({"purged": counts})

    document = msgspec.json.encode(openapi_document())

    async def openapi(_: Request) -> Response:
        return Response(document, media_type="application/json")

    return [
        Route("/v1/privacy/openapi.json", openapi, methods=["GET"]),
        Route("/v1/subjects/{id}/export", endpoint(container, export), methods=["GET"]),
        Route("/v1/subjects/{id}", endpoint(container, erase), methods=["DELETE"]),
        Route("/v1/audit", endpoint(container, audit), methods=["GET"]),
        Route("/v1/retention/purge", endpoint(container, purge), methods=["POST"]),
    ]
