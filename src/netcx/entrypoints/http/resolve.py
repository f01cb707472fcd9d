"""`GET /v1/resolve`: (ip, port, at) → Resolution for internal callers (API key, audited)."""

from __future__ import annotations

import json

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from netcx.bootstrap import Container, network_dir, now_ms
from netcx.entrypoints.cli.network import parse_at
from netcx.entrypoints.http.api_keys import ApiKeys, error_response, key_id
from netcx.errors import InvalidInput, NetcxError, Unauthorized


def _caller(request: Request, container: Container) -> str:
    """The caller's key id (hash prefix); Unauthorized unless the key is configured."""
    header = request.headers.get("authorization", "")
    key = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    key = key or request.headers.get("x-api-key", "")
    if not key:
        raise Unauthorized("missing API key (Authorization: Bearer KEY or X-API-Key)")
    if ApiKeys(container.settings.http.api_keys).known(key):
        return key_id(key)
    raise Unauthorized("unknown API key")


def routes(container: Container) -> list[BaseRoute]:
    async def resolve(request: Request) -> Response:
        try:
            caller = _caller(request, container)
            q = request.query_params
            ip = q.get("ip", "").strip()
            if not ip:
                raise InvalidInput("required", field="ip")
            purpose = q.get("purpose", "").strip()
            if not purpose:
                raise InvalidInput(
                    "required (analytics, personalisation, marketing…)", field="purpose"
                )
            port: int | None = None
            if q.get("port"):
                try:
                    port = int(q["port"])
                except ValueError as err:
                    raise InvalidInput("not an integer", field="port") from err
                if not 0 <= port <= 65535:
                    raise InvalidInput("must be 0..65535", field="port")
            at = now_ms()
            at_ms = parse_at(q.get("at") or None, now_ms=at)
            res = container.network.resolve(ip, port, at_ms)
            if container.resolve_consent_gate is not None:
                res = container.resolve_consent_gate.gate(res, purpose, at_ms)
            container.resolve_audit.record(caller, purpose, res, at)
        except NetcxError as err:
            return error_response(err)
        return Response(msgspec.json.encode(res), media_type="application/json")

    async def radius_stats(request: Request) -> Response:
        try:
            _caller(request, container)
        except NetcxError as err:
            return error_response(err)
        path = network_dir(container.settings) / "radius_stats.json"
        stats = json.loads(path.read_text()) if path.is_file() else {}
        return JSONResponse(stats)

    return [Route("/v1/resolve", resolve), Route("/v1/radius/stats", radius_stats)]
