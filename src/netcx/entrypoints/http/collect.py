"""HTTP routes of the collector: Segment and Snowplow protocols, the netcx tag, metrics, OpenAPI.

Thin: read the body (bounded), find the client address, decode, hand the events to the
Collector service, translate errors once. A 2xx is sent only after the Collector returned,
i.e. after the events are in the durable log.

The endpoints are plain ASGI callables mounted as Starlette routes: on the hot path a
Request/Response pair per event cost as much CPU as decoding and storing the event
(measured with bench/collect.py), so they read the few headers they need straight from
the ASGI scope; `App` finds them by exact path ahead of Starlette's middlewares and router.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import cookie_parser
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from netcx.adapters.collect import segment, snowplow, tag
from netcx.adapters.collect.common import Arrival
from netcx.bootstrap import Container
from netcx.domain.client_address import TrustedProxies, client_address
from netcx.domain.events import ClientAddress, Event
from netcx.entrypoints.http.collect_openapi import openapi_document
from netcx.errors import InvalidInput, NetcxError, Unauthorized
from netcx.services.collect import PENDING

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]

TAG_JS = Path(__file__).with_name("tag.js").read_bytes()
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_JSON = (b"content-type", b"application/json")


class PayloadTooLarge(InvalidInput):
    """A body above `collect.max_body_bytes` (after decompression)."""

    http_status = 413


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


@dataclass
class Reply:
    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""

    async def send(self, send: Send, *, head: bool = False) -> None:
        headers = self.headers
        if self.status != 204:  # a 204 must not carry Content-Length (RFC 9110 8.6)
            headers = [*headers, (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else self.body})


class Call:
    """One request as the collector sees it: lower-case headers (repeats joined), peer, body."""

    __slots__ = ("_receive", "headers", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in headers:  # HTTP/2 sends one cookie per header line
                value = headers[name] + (b"; " if name == b"cookie" else b", ") + value
            headers[name] = value
        self.headers = headers

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    def cookie(self, name: str) -> str | None:
        raw = self.header(b"cookie")
        return cookie_parser(raw).get(name) if raw else None

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.scope["query_string"].decode("latin-1"), keep_blank_values=True))

    async def body(self, limit: int) -> bytes:
        declared = self.headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"body of {declared.decode()} bytes is over {limit}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body is over {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        encoding = (self.header(b"content-encoding") or "").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding not in ("gzip", "deflate"):
            raise InvalidInput(f"unsupported encoding {encoding!r}", field="Content-Encoding")
        inflater = zlib.decompressobj(wbits=47)  # 32+15: gzip or zlib header, detected
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error as err:
            raise InvalidInput(f"body is not valid {encoding}: {err}") from err
        if len(out) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"decompressed body is over {limit} bytes")
        return out


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
            "Stored events by recognition level (`pending`: the identity graph was unavailable).",
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
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """The labelled series, looked up once (prometheus' own lookup takes a lock)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


_PEERS_MAX = 65536


def _port(value: object) -> int | None:
    """The peer's source port; granian hands it over as a string."""
    try:
        port = int(str(value))
    except ValueError:
        return None
    return port if 0 < port < 65536 else None


@lru_cache(maxsize=1024)
def _basic_user(header: str) -> str:
    """The user name (the Segment write key) of a Basic Authorization header; cached because
    a tracker sends the same header on every request."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("Authorization must be Basic <base64(writeKey:)>")
    try:
        return base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError) as err:
        raise Unauthorized("Authorization: not valid base64 of writeKey:") from err


def _reason(err: NetcxError) -> str:
    if isinstance(err, PayloadTooLarge):
        return "too_large"
    if isinstance(err, Unauthorized):
        return "unauthorized"
    if isinstance(err, InvalidInput):
        return "invalid"
    return "unavailable"


def _error_reply(err: NetcxError) -> Reply:
    # Segment clients read `code` and `message` from error bodies.
    code = {400: "invalid_request", 401: "unauthorized", 413: "payload_too_large"}.get(
        err.http_status, "unavailable"
    )
    body = msgspec.json.encode({"code": code, "message": str(err)})
    return Reply(err.http_status, [_JSON], body)


Handler = Callable[[Call], Awaitable[Reply]]


class Endpoint:
    """An ASGI endpoint: runs `handle`, maps NetcxError to its status once, records metrics."""

    def __init__(self, collect: Collect, source: str, name: str, handle: Handler) -> None:
        self._collect = collect
        self._source = source
        self._handle = handle
        self._latency = collect.metrics.child(collect.metrics.latency, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        call = Call(scope, receive)
        try:
            reply = await self._handle(call)
        except NetcxError as err:
            metrics = self._collect.metrics
            metrics.child(metrics.rejected, self._source, _reason(err)).inc()
            reply = _error_reply(err)
        except _Disconnected:
            return
        except Exception:
            # What Starlette's ServerErrorMiddleware did before the fast paths skipped it.
            log.exception("collect_failed endpoint=%s", scope["path"])
            reply = Reply(
                500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error"
            )
        self._collect.finish(call, reply)
        self._latency.observe(time.perf_counter() - started)
        await reply.send(send, head=scope["method"] == "HEAD")


class Collect:
    """The collector's handlers, sharing the container, metrics and parsed settings."""

    def __init__(self, container: Container) -> None:
        self.collector = container.collector
        http = container.settings.http
        c = container.settings.collect
        self.max_body = c.max_body_bytes
        self.trusted = TrustedProxies(http.trusted_proxies)
        self.port_header = http.client_port_header.lower().encode("latin-1")
        self.write_keys = {k.get_secret_value() for k in http.write_keys}
        self.cookie = c.visitor_cookie
        self.cookie_max_age_s = c.visitor_cookie_max_age_s
        self.tag_origins = set(c.tag_allowed_origins)
        self.metrics = CollectMetrics()
        self.openapi = msgspec.json.encode(openapi_document())
        self._peers: dict[tuple[str, object], ClientAddress] = {}

    # ------------------------------------------------------------ shared steps

    def arrival(self, call: Call) -> Arrival:
        peer = call.scope.get("client")
        if peer and not self.trusted:
            address = self.peer_address(peer[0], peer[1])
        else:
            address = self.forwarded_address(call, peer)
        return Arrival(time.time_ns() // 1_000_000, address, call.header(b"user-agent"))

    def peer_address(self, ip: str, port: object) -> ClientAddress | None:
        """With no trusted proxy the TCP peer is the client: its address is remembered per
        connection (a keep-alive connection sends many requests; parsing and formatting
        the address was a tenth of handling a single event)."""
        key = (ip, port)
        found = self._peers.get(key)
        if found is None:
            found = client_address(ip, _port(port), self.trusted)
            if found is not None:
                if len(self._peers) >= _PEERS_MAX:
                    self._peers.clear()
                self._peers[key] = found
        return found

    def forwarded_address(self, call: Call, peer: Any) -> ClientAddress | None:
        forwarded = xff = port = None
        if self.trusted:
            forwarded = call.header(b"forwarded")
            xff = call.header(b"x-forwarded-for")
            port = call.header(self.port_header)
        return client_address(
            peer[0] if peer else None,
            _port(peer[1]) if peer else None,
            self.trusted,
            forwarded=forwarded,
            x_forwarded_for=xff,
            client_port=port,
        )

    async def store(self, source: str, events: list[Event]) -> None:
        accepted = await self.collector.accept(events)
        if accepted.stored:
            self.metrics.child(self.metrics.events, source).inc(accepted.stored)
        if accepted.duplicates:
            self.metrics.child(self.metrics.duplicates, source).inc(accepted.duplicates)
        levels: dict[str, int] = {}
        for r in accepted.recognitions:
            levels[r.level] = levels.get(r.level, 0) + 1
        if accepted.unrecognised:
            levels[PENDING] = accepted.unrecognised
        for level, n in levels.items():  # once per request and level, not per event
            self.metrics.child(self.metrics.recognised, str(level)).inc(n)

    def finish(self, call: Call, reply: Reply) -> None:
        """Headers every collector reply carries: CORS for allowed tag origins."""
        origin = call.header(b"origin")
        if origin and origin in self.tag_origins:
            reply.headers += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
            ]

    # ------------------------------------------------------------ Segment

    def write_key(self, call: Call, body_key: str | None) -> None:
        header = call.header(b"authorization")
        key = body_key if header is None else _basic_user(header)
        if key is None:
            raise Unauthorized("a write key is required (Basic auth or writeKey in the body)")
        if key not in self.write_keys:
            raise Unauthorized("unknown write key")

    def segment(self, kind: str) -> Handler:
        async def handle(call: Call) -> Reply:
            has_header = b"authorization" in call.headers
            if has_header:  # refuse before reading a body we would not store
                self.write_key(call, None)
            decoded = segment.decode(kind, await call.body(self.max_body), self.arrival(call))
            if not has_header:
                self.write_key(call, decoded.body_write_key)
            await self.store("segment", decoded.events)
            return Reply(200, [_JSON], b'{"success":true}')

        return handle

    # ------------------------------------------------------------ Snowplow

    async def snowplow_post(self, call: Call) -> Reply:
        events = snowplow.decode_post(await call.body(self.max_body), self.arrival(call))
        await self.store("snowplow", events)
        return Reply(200, [(b"content-type", b"text/plain")], b"ok")

    async def snowplow_get(self, call: Call) -> Reply:
        events = snowplow.decode_get(call.query(), self.arrival(call))
        await self.store("snowplow", events)
        return Reply(
            200, [(b"content-type", b"image/gif"), (b"cache-control", b"no-store")], _PIXEL
        )

    # ------------------------------------------------------------ netcx tag

    def visitor_id(self, call: Call) -> tuple[str, bool]:
        """The visitor cookie's id, or a new one (True: the reply must set the cookie)."""
        current = call.cookie(self.cookie)
        if current and _VISITOR_ID.match(current):
            return current, False
        return secrets.token_urlsafe(18), True

    def visitor_cookie(self, call: Call, vid: str) -> tuple[bytes, bytes]:
        """First-party, long-lived, invisible to page scripts, sent on top-level navigation."""
        secure = "; Secure" if call.scope.get("scheme") == "https" else ""
        value = (
            f"{self.cookie}={vid}; Max-Age={self.cookie_max_age_s}; Path=/; HttpOnly; "
            f"SameSite=Lax{secure}"
        )
        return (b"set-cookie", value.encode("latin-1"))

    async def tag_script(self, call: Call) -> Reply:
        vid, new = self.visitor_id(call)
        headers = [
            (b"content-type", b"text/javascript; charset=utf-8"),
            (b"cache-control", b"private, max-age=300"),
        ]
        if new:
            headers.append(self.visitor_cookie(call, vid))
        return Reply(200, headers, TAG_JS)

    async def tag_events(self, call: Call) -> Reply:
        vid, new = self.visitor_id(call)
        events = tag.decode(await call.body(self.max_body), self.arrival(call), vid)
        await self.store("tag", events)
        return Reply(204, [self.visitor_cookie(call, vid)] if new else [])

    async def tag_preflight(self, call: Call) -> Reply:
        origin = call.header(b"origin")
        if not origin or origin not in self.tag_origins:
            return Reply(204)
        return Reply(
            204,
            [
                (b"access-control-allow-methods", b"POST"),
                (b"access-control-allow-headers", b"Content-Type"),
                (b"access-control-max-age", b"600"),
            ],
        )

    # ------------------------------------------------------------ metrics, OpenAPI

    async def metrics_text(self, _: Call) -> Reply:
        body = generate_latest(self.metrics.registry)
        return Reply(200, [(b"content-type", CONTENT_TYPE_LATEST.encode())], body)

    async def openapi_json(self, _: Call) -> Reply:
        return Reply(200, [_JSON], self.openapi)


def routes(container: Container) -> list[BaseRoute]:
    """The collector's routes for `netcx serve`."""
    c = Collect(container)

    def route(path: str, method: str, source: str, handle: Handler) -> Route:
        return Route(path, Endpoint(c, source, path, handle), methods=[method])

    return [
        *(route(f"/v1/{k}", "POST", "segment", c.segment(k)) for k in (*segment.KINDS, "batch")),
        route("/com.snowplowanalytics.snowplow/tp2", "POST", "snowplow", c.snowplow_post),
        route("/i", "GET", "snowplow", c.snowplow_get),
        route("/tag.js", "GET", "tag", c.tag_script),
        route("/v1/tag", "POST", "tag", c.tag_events),
        route("/v1/tag", "OPTIONS", "tag", c.tag_preflight),
        route("/metrics", "GET", "-", c.metrics_text),
        route("/openapi.json", "GET", "-", c.openapi_json),
    ]


class App(Starlette):
    """Starlette with the collector's endpoints found by one dict lookup on (method, path)
    ahead of its middleware and router; every other request goes through Starlette.

    A tracker's request spent as much CPU in Starlette's error middlewares and in matching
    the path against each route's pattern as the collector spent storing its event
    (measured with bench/collect.py). A path goes on the fast table only when Starlette
    itself would hand it, with that method, to a collector `Endpoint`, so answers are the
    same either way (other methods, trailing slashes, HEAD for GET).
    """

    def build_middleware_stack(self) -> ASGIApp:
        return _FastPaths(_fast_table(self.routes), super().build_middleware_stack())


class _FastPaths:
    def __init__(self, table: dict[tuple[str, str], Endpoint], app: ASGIApp) -> None:
        self._table = table
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # (behind a root path, Starlette's router strips it: that rare setup takes its path)
        if scope["type"] == "http" and not scope.get("root_path"):
            endpoint = self._table.get((scope["method"], scope["path"]))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _fast_table(routes: list[BaseRoute]) -> dict[tuple[str, str], Endpoint]:
    """(method, path) → the collector Endpoint that Starlette's router would pick for it."""
    table: dict[tuple[str, str], Endpoint] = {}
    for route in routes:
        if not isinstance(route, Route) or not isinstance(route.endpoint, Endpoint):
            continue
        if route.param_convertors:
            continue
        for method in route.methods or ():
            probe = {"type": "http", "path": route.path, "root_path": "", "method": method}
            first = next(r for r in routes if r.matches(probe)[0] is Match.FULL)
            if first is route:
                table[(method, route.path)] = route.endpoint
    return table
