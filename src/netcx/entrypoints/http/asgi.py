"""ASGI factory for granian: builds settings and the container once per worker process."""

from __future__ import annotations

import gc

from starlette.applications import Starlette

from netcx.bootstrap import build_container
from netcx.config import load_settings
from netcx.entrypoints.http.app import create_app

_GC_YOUNG_THRESHOLD = 20_000
"""Allocations between young-generation collections (CPython's default: 700). Each request
allocates thousands of short-lived objects (decoded events); collecting every 700 cost as
much CPU as decoding them (measured with bench/collect.py)."""


def create() -> Starlette:
    """`granian --factory netcx.entrypoints.http.asgi:create`."""
    app = create_app(build_container(load_settings()))
    # What the worker built at start-up lives as long as the process: out of the
    # collector's sight, so old-generation collections do not walk it again and again.
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    return app
