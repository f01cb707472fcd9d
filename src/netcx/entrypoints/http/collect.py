"""HTTP routes of the collector: Segment and Snowplow protocols, the netcx tag, metrics, OpenAPI.

Thin: read the body (bounded), find the client address, decode, hand the events to the
Collector service, translate errors once. A 2xx is sent only after the Collector returned,
i.e. after the events are in the durable log.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
import zlib
from collections import Counter as Tally
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from netcx.adapters.collect import segment, snowplow, tag
from netcx.adapters.collect.common import Arrival
from netcx.bootstrap import Container
from netcx.domain.client_address import TrustedProxies, client_address
from netcx.domain.events import Event
from netcx.entrypoints.http.collect_openapi import openapi_document
from netcx.errors import InvalidInput, NetcxError, Unauthorized

TAG_JS = (Path(__file__).with_name("tag.js")).read_bytes()
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class PayloadTooLarge(InvalidInput):
    """A body above `collect.max_body_bytes` (after decompression)."""

    http_status = 413


class CollectMetrics:
    """Prometheus series of the collector, in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "netcx_collect_events",
            "Events stored (new), by source.",
            ["source"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "netcx_collect_duplicate_events",
            "Events already stored (retries), by source.",
            ["source"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "netcx_collect_rejected_requests",
            "Requests refused, by source and reason.",
            ["source", "reason"],
            registry=self.registry,
        )
        self.recognised = Counter(
            "netcx_collect_recognised_events",
            "Stored events by recognition level.",
            ["level"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "netcx_collect_request_seconds",
            "Time from request start to response, by endpoint.",
            ["endpoint"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self._children: dict[tuple[int, str], Any] = {}

    def child(self, metric: Counter | Histogram, label: str) -> Any:
        """The labelled series, looked up once (prometheus' own lookup takes a lock)."""
        key = (id(metric), label)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(label)
        return found


def _port(value: object) -> int | None:
    """The peer's source port; granian hands it over as a string."""
    try:
        port = int(str(value))
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


def _reason(err: NetcxError) -> str:
    if isinstance(err, PayloadTooLarge):
        return "too_large"
    if isinstance(err, Unauthorized):
        return "unauthorized"
    if isinstance(err, InvalidInput):
        return "invalid"
    return "unavailable"


def _error_response(err: NetcxError) -> Response:
    # Segment clients read `code` and `message` from error bodies.
    code = {400: "invalid_request", 401: "unauthorized", 413: "payload_too_large"}.get(
        err.http_status, "unavailable"
    )
    return JSONResponse({"code": code, "message": str(err)}, status_code=err.http_status)


class CollectRoutes:
    """The handlers, sharing the container, metrics and parsed settings."""

    def __init__(self, container: Container) -> None:
        self.collector = container.collector
        http = container.settings.http
        c = container.settings.collect
        self.max_body = c.max_body_bytes
        self.trusted = TrustedProxies(http.trusted_proxies)
        self.port_header = http.client_port_header.lower()
        self.write_keys = {k.get_secret_value() for k in http.write_keys}
        self.cookie = c.visitor_cookie
        self.cookie_max_age_s = c.visitor_cookie_max_age_s
        self.tag_origins = set(c.tag_allowed_origins)
        self.metrics = CollectMetrics()
        self.openapi = msgspec.json.encode(openapi_document())

    # ------------------------------------------------------------ request plumbing

    async def body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise PayloadTooLarge(f"body of {declared} bytes is over {self.max_body}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(f"body is over {self.max_body} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding not in ("gzip", "deflate"):
            raise InvalidInput(f"unsupported encoding {encoding!r}", field="Content-Encoding")
        inflater = zlib.decompressobj(wbits=47)  # 32+15: gzip or zlib header, detected
        try:
            out = inflater.decompress(body, self.max_body + 1)
        except zlib.error as err:
            raise InvalidInput(f"body is not valid {encoding}: {err}") from err
        if len(out) > self.max_body or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed body is over {self.max_body} bytes")
        return out

    def arrival(self, request: Request) -> Arrival:
        peer = request.client
        headers = request.headers
        forwarded = xff = port = None
        if self.trusted:
            forwarded = ", ".join(headers.getlist("forwarded")) or None
            xff = ", ".join(headers.getlist("x-forwarded-for")) or None
            port = headers.get(self.port_header)
        address = client_address(
            peer.host if peer else None,
            _port(peer.port) if peer else None,
            self.trusted,
            forwarded=forwarded,
            x_forwarded_for=xff,
            client_port=port,
        )
        return Arrival(time.time_ns() // 1_000_000, address, headers.get("user-agent"))

    async def store(self, source: str, events: list[Event]) -> None:
        accepted = await self.collector.accept(events)
        if accepted.stored:
            self.metrics.child(self.metrics.events, source).inc(accepted.stored)
        if accepted.duplicates:
            self.metrics.child(self.metrics.duplicates, source).inc(accepted.duplicates)
        levels = Tally(r.level.value for r in accepted.recognitions)
        for level, n in levels.items():
            self.metrics.child(self.metrics.recognised, level).inc(n)

    async def guarded(
        self,
        source: str,
        endpoint: str,
        handle: Callable[[], Awaitable[Response]],
    ) -> Response:
        started = time.perf_counter()
        try:
            response = await handle()
        except NetcxError as err:
            self.metrics.rejected.labels(source, _reason(err)).inc()
            response = _error_response(err)
        except ClientDisconnect:
            response = Response(status_code=400)
        self.metrics.child(self.metrics.latency, endpoint).observe(time.perf_counter() - started)
        return response

    # ------------------------------------------------------------ Segment

    def check_write_key(self, request: Request, body_key: str | None) -> None:
        header = request.headers.get("authorization")
        key = body_key
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                raise Unauthorized("Authorization must be Basic <base64(writeKey:)>")
            try:
                key = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError) as err:
                raise Unauthorized("Authorization: not valid base64 of writeKey:") from err
        if key is None:
            raise Unauthorized("a write key is required (Basic auth or writeKey in the body)")
        if key not in self.write_keys:
            raise Unauthorized("unknown write key")

    def segment_route(self, kind: str) -> Route:
        async def endpoint(request: Request) -> Response:
            async def handle() -> Response:
                if "authorization" in request.headers:
                    self.check_write_key(request, None)
                decoded = segment.decode(kind, await self.body(request), self.arrival(request))
                if "authorization" not in request.headers:
                    self.check_write_key(request, decoded.body_write_key)
                await self.store("segment", decoded.events)
                return Response(b'{"success":true}', media_type="application/json")

            return await self.guarded("segment", f"/v1/{kind}", handle)

        return Route(f"/v1/{kind}", endpoint, methods=["POST"], name=f"segment_{kind}")

    # ------------------------------------------------------------ Snowplow

    async def snowplow_post(self, request: Request) -> Response:
        async def handle() -> Response:
            events = snowplow.decode_post(await self.body(request), self.arrival(request))
            await self.store("snowplow", events)
            return Response(b"ok", media_type="text/plain")

        return await self.guarded("snowplow", "/com.snowplowanalytics.snowplow/tp2", handle)

    async def snowplow_get(self, request: Request) -> Response:
        async def handle() -> Response:
            params = dict(request.query_params.multi_items())
            events = snowplow.decode_get(params, self.arrival(request))
            await self.store("snowplow", events)
            return Response(_PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})

        return await self.guarded("snowplow", "/i", handle)

    # ------------------------------------------------------------ netcx tag

    def visitor_id(self, request: Request) -> tuple[str, bool]:
        """The visitor cookie's id, or a new one (True: the response must set the cookie)."""
        current = request.cookies.get(self.cookie)
        if current and _VISITOR_ID.match(current):
            return current, False
        return secrets.token_urlsafe(18), True

    def with_visitor_cookie(self, request: Request, response: Response, vid: str) -> None:
        response.set_cookie(
            self.cookie,
            vid,
            max_age=self.cookie_max_age_s,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def cors(self, request: Request, response: Response) -> None:
        origin = request.headers.get("origin")
        if origin and origin in self.tag_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"

    async def tag_script(self, request: Request) -> Response:
        vid, new = self.visitor_id(request)
        response = Response(
            TAG_JS,
            media_type="text/javascript",
            headers={"Cache-Control": "private, max-age=300"},
        )
        if new:
            self.with_visitor_cookie(request, response, vid)
        return response

    async def tag_events(self, request: Request) -> Response:
        vid, new = self.visitor_id(request)

        async def handle() -> Response:
            events = tag.decode(await self.body(request), self.arrival(request), vid)
            await self.store("tag", events)
            return Response(status_code=204)

        response = await self.guarded("tag", "/v1/tag", handle)
        if new and response.status_code < 300:
            self.with_visitor_cookie(request, response, vid)
        self.cors(request, response)
        return response

    async def tag_preflight(self, request: Request) -> Response:
        response = Response(status_code=204)
        self.cors(request, response)
        if "Access-Control-Allow-Origin" in response.headers:
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    # ------------------------------------------------------------ metrics, OpenAPI

    async def metrics_endpoint(self, _: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi_endpoint(self, _: Request) -> Response:
        return Response(self.openapi, media_type="application/json")


def routes(container: Container) -> list[BaseRoute]:
    """The collector's routes for `netcx serve`."""
    r = CollectRoutes(container)
    return [
        *(r.segment_route(kind) for kind in (*segment.KINDS, "batch")),
        Route("/com.snowplowanalytics.snowplow/tp2", r.snowplow_post, methods=["POST"]),
        Route("/i", r.snowplow_get, methods=["GET"]),
        Route("/tag.js", r.tag_script, methods=["GET"]),
        Route("/v1/tag", r.tag_events, methods=["POST"]),
        Route("/v1/tag", r.tag_preflight, methods=["OPTIONS"]),
        Route("/metrics", r.metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", r.openapi_endpoint, methods=["GET"]),
    ]
