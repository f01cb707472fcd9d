"""ASGI factory for granian: builds settings and the container once per worker process."""

from __future__ import annotations

from starlette.applications import Starlette

from netcx.bootstrap import build_container
from netcx.config import load_settings
from netcx.entrypoints.gc_policy import tune_gc
from netcx.entrypoints.http.app import create_app


def create() -> Starlette:
    """`granian --factory netcx.entrypoints.http.asgi:create`."""
    app = create_app(build_container(load_settings()))
    tune_gc()
    return app
