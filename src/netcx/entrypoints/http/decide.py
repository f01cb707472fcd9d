"""`POST /v1/decide` (one call: recognition, consent, intents, chosen experiences, holdout,
decision id), `GET /v1/decide/srm` and `GET /v1/decide/metrics` (Prometheus)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import msgspec
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from netcx.bootstrap import Container
from netcx.domain.decisions.context import VisitEvent
from netcx.entrypoints.http.api_keys import ApiKeys
from netcx.entrypoints.http.client import scope_client_address, trusted_proxies
from netcx.services.decisions import DecisionResult, DecisionService

JSON = "application/json"
MAX_BODY_BYTES = 64 * 1024  # a decide request is a few hundred bytes


class DecideRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Input: a visitor id and/or the current event, the channel and the caller's purpose."""

    channel: Literal["web", "app"]
    visitor_id: str | None = None
    session_id: str | None = None
    event: VisitEvent | None = None
    purpose: Literal["personalisation", "marketing", "analytics"] = "personalisation"


class _Ids(msgspec.Struct, omit_defaults=True):
    line: str | None = None
    subscriber: str | None = None
    household: str | None = None
    account: str | None = None


class _Recognition(msgspec.Struct):
    state: str
    level: str
    confidence: float
    reason: str
    ids: _Ids


class _Consent(msgspec.Struct):
    analytics: bool
    personalisation: bool
    marketing: bool


class _Intent(msgspec.Struct):
    name: str
    score: float
    evidence: tuple[str, ...]


class _Experience(msgspec.Struct):
    id: str
    slot: str
    category: str
    intent: str | None
    reason_codes: tuple[str, ...]
    params: dict[str, str]


class _Rejected(msgspec.Struct):
    id: str
    reason: str


class DecideResponse(msgspec.Struct):
    """Holdout members get `holdout: true` and no experiences (logged as would-have); an
    account held out of one experience only gets that slot in `held_out_slots` (show the
    default there) and the other experience as usual."""

    decision_id: str
    at_ms: int
    recognition: _Recognition
    consent: _Consent
    intents: list[_Intent]
    experiences: list[_Experience]
    holdout: bool
    held_out_slots: list[str]
    rejected: list[_Rejected]


def to_response(result: DecisionResult) -> DecideResponse:
    d, rec = result.decision, result.recognition
    ids = _Ids(rec.line_id, rec.subscriber_id, rec.household_id, rec.account_id)
    return DecideResponse(
        decision_id=d.decision_id,
        at_ms=d.at_ms,
        recognition=_Recognition(rec.state.value, rec.level, rec.confidence, rec.reason, ids),
        consent=_Consent(rec.consent.analytics, rec.consent.personalisation, rec.consent.marketing),
        intents=[_Intent(i.name, i.score, i.evidence) for i in result.intents],
        experiences=[
            _Experience(c.experience_id, c.slot, c.category, c.intent, c.reason_codes, c.params)
            for c in d.shown
        ],
        holdout=d.holdout,
        held_out_slots=[c.slot for c in d.chosen if c.held_out],
        rejected=[_Rejected(r.experience_id, r.reason) for r in d.rejected],
    )


class SrmCollector:
    """Computes the SRM checks at scrape time from the decision log; register it in any
    Prometheus registry (e.g. the one behind /metrics) to publish the gauges there."""

    def __init__(self, service: DecisionService) -> None:
        self._service = service

    def collect(self) -> Iterator[GaugeMetricFamily]:
        p = GaugeMetricFamily(
            "netcx_decide_srm_p_value", "Chi-square p-value of the holdout split", labels=["scope"]
        )
        bad = GaugeMetricFamily(
            "netcx_decide_srm_mismatch", "1 when the holdout split mismatches", labels=["scope"]
        )
        units = GaugeMetricFamily(
            "netcx_decide_holdout_units", "Distinct accounts per group", labels=["scope", "group"]
        )
        for r in self._service.srm():
            p.add_metric([r.scope], r.p_value)
            bad.add_metric([r.scope], float(r.mismatch))
            for group, n in r.observed.items():
                units.add_metric([r.scope, group], n)
        yield from (p, bad, units)


class _AsgiEndpoint:
    """Makes Starlette route to a plain ASGI callable (it wraps bare functions as handlers)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def routes(container: Container) -> list[BaseRoute]:
    """The decisions area's routes, bound to the container's DecisionService."""
    service = container.decisions
    http = container.settings.http
    keys = ApiKeys(http.api_keys)
    proxies = trusted_proxies(http.trusted_proxies)
    decoder = msgspec.json.Decoder(DecideRequest)
    encoder = msgspec.json.Encoder()
    registry = CollectorRegistry()
    outcomes = Counter("netcx_decisions", "Decisions by outcome", ["outcome"], registry=registry)
    registry.register(SrmCollector(service))

    def authorised(headers: dict[bytes, bytes]) -> bool:
        if not keys:
            return True
        return keys.known(headers.get(b"x-api-key", b""))

    port_header = http.client_port_header.lower().encode("latin-1")

    def answer(body: bytes, headers: dict[bytes, bytes], scope: Scope) -> tuple[int, bytes]:
        if not authorised(headers):
            return 401, encoder.encode({"error": "missing or wrong x-api-key"})
        try:
            req = decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError) as err:
            return 400, encoder.encode({"error": f"invalid decide request: {err}"})
        if req.visitor_id is None and req.event is None:
            return 400, encoder.encode(
                {"error": "invalid decide request: give visitor_id and/or event"}
            )
        # The peer is the client unless it is one of our trusted proxies; then the proxy's
        # forwarding and client-port headers are believed (never a client's own).
        address = scope_client_address(scope, proxies, port_header)
        result = service.decide(
            channel=req.channel,
            visitor_id=req.visitor_id,
            session_id=req.session_id,
            event=req.event,
            purpose=req.purpose,
            client_ip=address.ip if address else None,
            client_port=address.port if address else None,
        )
        d = result.decision
        counted["holdout" if d.holdout else "shown" if d.shown else "nothing"].inc()
        return 200, encoder.encode(to_response(result))

    counted = {o: outcomes.labels(o) for o in ("holdout", "shown", "nothing")}

    async def decide(scope: Scope, receive: Receive, send: Send) -> None:
        # A plain ASGI endpoint: this is the hot path, so no Request/Response objects.
        chunks = []
        size = 0
        more = True
        while more:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= MAX_BODY_BYTES:  # past the limit: read on, keep nothing
                chunks.append(chunk)
            more = message.get("more_body", False)
        if size > MAX_BODY_BYTES:
            status, payload = (
                413,
                encoder.encode({"error": f"decide request larger than {MAX_BODY_BYTES} bytes"}),
            )
        else:
            status, payload = answer(b"".join(chunks), dict(scope["headers"]), scope)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def srm(_: Request) -> Response:
        return Response(encoder.encode(service.srm()), media_type=JSON)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    return [
        Route("/v1/decide", _AsgiEndpoint(decide), methods=["POST"]),
        Route("/v1/decide/srm", srm, methods=["GET"]),
        Route("/v1/decide/metrics", metrics, methods=["GET"]),
    ]
