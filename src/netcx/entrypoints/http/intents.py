"""HTTP routes of the intents area: score an event, read active intents and household journeys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from netcx.bootstrap import Container, now_ms
from netcx.domain.intents.matching import Signal
from netcx.entrypoints.http.api_keys import ApiKeys, error_response
from netcx.errors import ConfigError, InvalidInput, NetcxError, Unauthorized
from netcx.services.intents import IntentService


class ScoreRequest(msgspec.Struct, forbid_unknown_fields=True):
    """One web/app event for the real-time scorer and the subjects it belongs to."""

    subjects: list[str]  # e.g. [visitor pseudonym, line pseudonym, household pseudonym]
    ts_ms: int
    url: str = ""
    title: str = ""
    search_term: str = ""
    event_name: str = ""
    screen: str = ""
    ref: str = ""
    source: str | None = None


_decode_score = msgspec.json.Decoder(ScoreRequest)
_MAX_SUBJECTS = 16
Handler = Callable[[Request], Awaitable[Response]]


def routes(container: Container) -> list[BaseRoute]:
    """Routes under /v1/intents; read and write need an API key when keys are configured."""
    service = container.intents
    if service is None:
        raise ConfigError("intents: the container has no intent service")
    keys = ApiKeys(container.settings.http.api_keys)

    def guarded(handler: Callable[[Request, IntentService], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                _authorise(request, keys)
                return await handler(request, service)
            except NetcxError as err:
                return error_response(err)

        return endpoint

    return [
        Route("/v1/intents/events", guarded(_score), methods=["POST"]),
        Route("/v1/intents/{subject_id}", guarded(_active), methods=["GET"]),
        Route("/v1/households/{household_id}/journey", guarded(_journey), methods=["GET"]),
    ]


def _authorise(request: Request, keys: ApiKeys) -> None:
    if not keys:
        return
    given = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    given = given.removeprefix("Bearer ").strip()
    if not keys.known(given):
        raise Unauthorized("missing or wrong API key (x-api-key or Authorization: Bearer)")


def _at_ms(request: Request) -> int:
    raw = request.query_params.get("at_ms")
    if raw is None:
        return now_ms()
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"not an integer: {raw!r}", field="at_ms") from None


async def _score(request: Request, service: IntentService) -> Response:
    try:
        body = _decode_score.decode(await request.body())
    except msgspec.ValidationError as err:
        raise InvalidInput(f"request body: {err}") from err
    except msgspec.DecodeError as err:
        raise InvalidInput(f"request body is not JSON: {err}") from err
    if not body.subjects or len(body.subjects) > _MAX_SUBJECTS:
        raise InvalidInput(f"give 1 to {_MAX_SUBJECTS} subject ids", field="subjects")
    signal = Signal(
        body.ts_ms,
        url=body.url,
        title=body.title,
        search_term=body.search_term,
        event_name=body.event_name,
        screen=body.screen,
        ref=body.ref,
    )
    events = service.score_event(signal, body.subjects, source=body.source)
    return Response(msgspec.json.encode({"emerged": events}), media_type="application/json")


async def _active(request: Request, service: IntentService) -> Response:
    subject = request.path_params["subject_id"]
    active = service.active_intents([subject], _at_ms(request))
    return Response(
        msgspec.json.encode({"subject_id": subject, "intents": active}),
        media_type="application/json",
    )


async def _journey(request: Request, service: IntentService) -> Response:
    household = request.path_params["household_id"]
    journey = service.household_journey(household, _at_ms(request))
    return Response(
        msgspec.json.encode({"household_id": household, "journey": journey}),
        media_type="application/json",
    )
