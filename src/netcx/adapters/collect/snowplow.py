"""Snowplow tracker protocol: `POST /com.snowplowanalytics.snowplow/tp2` bodies and `GET /i`.

Parameters follow the Snowplow tracker protocol (`e`, `eid`, `dtm`, `stm`, `duid`, `uid`,
`url`, `page`, `refr`, `se_*`, `ue_pr`/`ue_px`, `co`/`cx`, ...). Self-describing events and
contexts are kept whole (schema + data), whether sent as JSON or base64url.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import msgspec

from netcx.adapters.collect.common import Arrival, decode_json, new_event_id
from netcx.domain.events import ConsentState, Event, Source, consent_from_categories
from netcx.errors import InvalidInput

Scalar = str | int | float | bool | None

EVENT_TYPES = {
    "pv": "page_view",
    "pp": "page_ping",
    "se": "struct",
    "ue": "self_describing",
    "tr": "transaction",
    "ti": "transaction_item",
}

CONSENT_SCHEMA_PREFIX = "iglu:io.netcx/consent/"
"""Contexts with this schema carry the page's consent state: data {purpose: bool}."""

# Parameters that become Event fields; every other one is kept in `properties`.
_MAPPED = {
    "e",
    "eid",
    "dtm",
    "ttm",
    "stm",
    "duid",
    "nuid",
    "tnuid",
    "uid",
    "url",
    "page",
    "refr",
    "ua",
    "co",
    "cx",
    "ue_pr",
    "ue_px",
    "ip",
}


class PayloadData(msgspec.Struct):
    """The tp2 POST body: a self-describing JSON holding a list of events (parameter maps)."""

    schema: Annotated[str, msgspec.Meta(pattern=r"^iglu:com\.snowplowanalytics\.snowplow/")]
    data: Annotated[list[dict[str, Scalar]], msgspec.Meta(min_length=1)]


_post_decoder = msgspec.json.Decoder(PayloadData)
_json = msgspec.json.Decoder()


def decode_post(body: bytes, arrival: Arrival) -> list[Event]:
    payload = decode_json(body, _post_decoder)
    return [
        _event({k: _text(v) for k, v in params.items() if v is not None}, arrival, f"data[{i}].")
        for i, params in enumerate(payload.data)
    ]


def decode_get(params: dict[str, str], arrival: Arrival) -> list[Event]:
    return [_event(params, arrival, "")]


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _ms(params: dict[str, str], name: str, prefix: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        ms = int(value)
    except ValueError:
        raise InvalidInput(f"not epoch milliseconds: {value[:40]!r}", field=prefix + name) from None
    if not -(2**62) < ms < 2**62:
        raise InvalidInput("epoch milliseconds out of range", field=prefix + name)
    return ms


def _self_describing(
    params: dict[str, str], plain: str, b64: str, prefix: str
) -> tuple[dict[str, Any], str] | None:
    """The JSON object of `plain` or (base64url) `b64` and the field it came from, or None."""
    if plain in params:
        name, text = plain, params[plain]
    elif b64 in params:
        name = b64
        raw = params[b64].strip().replace("+", "-").replace("/", "_")
        try:
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as err:
            raise InvalidInput(f"not base64url of UTF-8 JSON: {err}", field=prefix + name) from err
    else:
        return None
    try:
        value = _json.decode(text)
    except msgspec.DecodeError as err:
        raise InvalidInput(f"not valid JSON: {err}", field=prefix + name) from err
    if not isinstance(value, dict) or not isinstance(value.get("schema"), str):
        raise InvalidInput("must be a self-describing JSON {schema, data}", field=prefix + name)
    return value, prefix + name


def _contexts(params: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    found = _self_describing(params, "co", "cx", prefix)
    if found is None:
        return []
    value, field = found
    data = value.get("data")
    if not isinstance(data, list) or not all(
        isinstance(c, dict) and isinstance(c.get("schema"), str) for c in data
    ):
        raise InvalidInput("data must be a list of {schema, data} contexts", field=field)
    return data


def _event(params: dict[str, str], arrival: Arrival, prefix: str) -> Event:
    code = params.get("e")
    if not code:
        raise InvalidInput("event type is required", field=prefix + "e")
    kind = EVENT_TYPES.get(code)
    if kind is None:
        raise InvalidInput(
            f"unknown event type {code[:20]!r} (one of {', '.join(EVENT_TYPES)})",
            field=prefix + "e",
        )
    contexts = _contexts(params, prefix)
    properties: dict[str, Any] = {k: v for k, v in params.items() if k not in _MAPPED}
    name = params.get("se_ac") if kind == "struct" else None
    screen: str | None = None
    if kind == "self_describing":
        found = _self_describing(params, "ue_pr", "ue_px", prefix)
        if found is None:
            raise InvalidInput(
                "a self-describing event needs ue_pr or ue_px", field=prefix + "ue_pr"
            )
        value, field = found
        inner = value.get("data")
        if not isinstance(inner, dict) or not isinstance(inner.get("schema"), str):
            raise InvalidInput("data must be a self-describing JSON {schema, data}", field=field)
        properties["event"] = inner
        name = inner["schema"]
        data = inner.get("data")
        if "/screen_view/" in name and isinstance(data, dict) and isinstance(data.get("name"), str):
            screen = data["name"]
    return Event(
        source=Source.SNOWPLOW,
        event_id=params.get("eid") or new_event_id(),
        type=kind,
        received_ms=arrival.received_ms,
        occurred_ms=_ms(params, "ttm", prefix) or _ms(params, "dtm", prefix),
        sent_ms=_ms(params, "stm", prefix),
        visitor_id=params.get("duid") or params.get("nuid") or params.get("tnuid") or None,
        user_id=params.get("uid") or None,
        name=name or None,
        url=params.get("url") or None,
        title=params.get("page") or None,
        referrer=params.get("refr") or None,
        screen=screen or None,
        user_agent=params.get("ua") or arrival.user_agent,
        properties=properties,
        contexts=contexts,
        consent=_consent(contexts),
        client=arrival.client,
    )


def _consent(contexts: list[dict[str, Any]]) -> ConsentState:
    for context in contexts:
        data = context.get("data")
        if context["schema"].startswith(CONSENT_SCHEMA_PREFIX) and isinstance(data, dict):
            return consent_from_categories(data)
    return ConsentState()
