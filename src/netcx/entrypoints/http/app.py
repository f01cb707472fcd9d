"""Assembles the netcx ASGI app from one route module per area."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from netcx import __version__
from netcx.bootstrap import Container
from netcx.entrypoints.http import (
    camara,
    collect,
    consent,
    dashboard,
    decide,
    intents,
    privacy,
    profiles,
    resolve,
)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def http_error(_: Request, exc: Exception) -> Response:
    """Starlette's own 4xx (no such route, a method the route does not take) as every other
    error of the API: `{"error": message}`, its headers (Allow) kept."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)


def create_app(container: Container) -> Starlette:
    """The app `netcx serve` runs; each area contributes its routes."""
    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    routes += camara.routes(container)
    routes += collect.routes(container)
    routes += profiles.routes(container) + consent.routes(container) + privacy.routes(container)
    routes += resolve.routes(container)
    routes += intents.routes(container)
    routes += decide.routes(container)
    routes += dashboard.routes(container)
    # the collector's paths first, by exact match
    app = collect.App(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.container = container
    return app
