"""Segment HTTP tracking API payloads (track, page, screen, identify, group, alias, batch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from netcx.adapters.collect.common import (
    Arrival,
    decode_json,
    new_event_id,
    text_id,
    to_ms,
)
from netcx.domain.events import ConsentState, Event, Source, consent_from_categories
from netcx.errors import InvalidInput

Id = str | int


class Message(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True, rename="camel"):
    """Fields every Segment message may carry. `userId` or `anonymousId` is required."""

    message_id: Id | None = None
    anonymous_id: Id | None = None
    user_id: Id | None = None
    timestamp: datetime | None = None
    original_timestamp: datetime | None = None
    sent_at: datetime | None = None
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    integrations: dict[str, Any] = msgspec.field(default_factory=dict)
    write_key: str | None = None


class Track(Message, tag="track"):
    """An action the user performed; `event` names it."""

    event: str
    properties: dict[str, Any] = msgspec.field(default_factory=dict)


class Page(Message, tag="page"):
    """A web page view."""

    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = msgspec.field(default_factory=dict)


class Screen(Message, tag="screen"):
    """An app screen view."""

    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = msgspec.field(default_factory=dict)


class Identify(Message, tag="identify"):
    """Ties a user id (login) to the anonymous id, with traits."""

    traits: dict[str, Any] = msgspec.field(default_factory=dict)


class Group(Message, tag="group"):
    """Associates the user with a group (e.g. an account)."""

    group_id: Id
    traits: dict[str, Any] = msgspec.field(default_factory=dict)


class Alias(Message, tag="alias"):
    """Merges a previous id into a user id."""

    previous_id: Id
    user_id: Id


AnyMessage = Track | Page | Screen | Identify | Group | Alias


class Batch(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """Up to many messages in one request; batch `context` is merged under each message's."""

    batch: list[AnyMessage]
    sent_at: datetime | None = None
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    integrations: dict[str, Any] = msgspec.field(default_factory=dict)
    write_key: str | None = None


KINDS: dict[str, type[Message]] = {
    "track": Track,
    "page": Page,
    "screen": Screen,
    "identify": Identify,
    "group": Group,
    "alias": Alias,
}

_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(cls) for kind, cls in KINDS.items()
}
_batch_decoder = msgspec.json.Decoder(Batch)


class Decoded(msgspec.Struct, frozen=True):
    """The events of one request and the write key found in its body (if any)."""

    events: list[Event]
    body_write_key: str | None


def decode(kind: str, body: bytes, arrival: Arrival) -> Decoded:
    """Decode the body of `/v1/<kind>` (`kind` in KINDS or `batch`)."""
    if kind == "batch":
        batch = decode_json(body, _batch_decoder)
        if not batch.batch:
            raise InvalidInput("must hold at least one message", field="batch")
        sent_ms = to_ms(batch.sent_at)
        events = [_event(m, arrival, i, batch.context, sent_ms) for i, m in enumerate(batch.batch)]
        key = batch.write_key or next((m.write_key for m in batch.batch if m.write_key), None)
        return Decoded(events, key)
    message = decode_json(body, _decoders[kind])
    return Decoded([_event(message, arrival, None, {}, None)], message.write_key)


_SEGMENT = Source.SEGMENT
_NO_CONSENT = ConsentState()
_EMPTY: dict[str, Any] = {}


def _text(primary: dict[str, Any], fallback: dict[str, Any], key: str) -> str | None:
    """A non-empty string field from `primary` (properties), else from `fallback` (page)."""
    value = primary.get(key)
    if type(value) is str and value:
        return value
    value = fallback.get(key)
    return value if type(value) is str and value else None


def _event(
    m: Message,
    arrival: Arrival,
    index: int | None,
    batch_context: dict[str, Any],
    sent_ms: int | None,
) -> Event:
    user_id = text_id(m.user_id)
    anonymous_id = text_id(m.anonymous_id)
    if user_id is None and anonymous_id is None:
        where = "" if index is None else f"batch[{index}]."
        raise InvalidInput("either userId or anonymousId is required", field=f"{where}userId")
    context = {**batch_context, **m.context} if batch_context else m.context
    page = context.get("page", _EMPTY)
    if type(page) is not dict:
        page = _EMPTY
    name: str | None = None
    screen: str | None = None
    properties: dict[str, Any] = _EMPTY
    traits: dict[str, Any] = _EMPTY
    group_id = previous_id = None
    if type(m) is Track:
        name, properties = m.event, m.properties
    elif type(m) is Page:
        name, properties = m.name, m.properties
    elif type(m) is Screen:
        name = screen = m.name
        properties = m.properties
    elif type(m) is Identify:
        traits = m.traits
    elif type(m) is Group:
        traits, group_id = m.traits, text_id(m.group_id)
    elif type(m) is Alias:
        previous_id = text_id(m.previous_id)
    user_agent = context.get("userAgent")
    # Positional, in _EVENT_FIELDS order: msgspec matches 22 keyword arguments by name at
    # 0.8 us an event, positional ones take 0.2 us (a quarter of decoding a page event).
    return Event(
        _SEGMENT,
        text_id(m.message_id) or new_event_id(),
        m.__struct_config__.tag,  # type: ignore[arg-type]
        arrival.received_ms,
        to_ms(m.timestamp or m.original_timestamp),
        anonymous_id,
        user_id,
        name,
        _text(properties, page, "url"),
        _text(properties, page, "title"),
        _text(properties, page, "search"),
        screen,
        _consent(context) if "consent" in context else _NO_CONSENT,
        arrival.client,
        to_ms(m.sent_at) if m.sent_at is not None else sent_ms,
        _text(properties, page, "referrer"),
        group_id,
        previous_id,
        user_agent if type(user_agent) is str and user_agent else arrival.user_agent,
        dict(properties) if properties is _EMPTY else properties,
        dict(traits) if traits is _EMPTY else traits,
        [context] if context else [],
    )


_EVENT_FIELDS = (
    "source", "event_id", "type", "received_ms", "occurred_ms", "visitor_id", "user_id",
    "name", "url", "title", "search", "screen", "consent", "client", "sent_ms", "referrer",
    "group_id", "previous_id", "user_agent", "properties", "traits", "contexts",
)  # fmt: skip
if Event.__struct_fields__ != _EVENT_FIELDS:  # _event passes them by position
    raise ImportError(f"Event fields changed: {Event.__struct_fields__}; update _event")


_CONSENTS: dict[tuple[tuple[str, bool], ...], ConsentState] = {}
_CONSENTS_MAX = 1024


def _consent(context: dict[str, Any]) -> ConsentState:
    """Segment's consent object: `context.consent.categoryPreferences` {category: bool}.

    A site's consent tool sends a few combinations over and over: their mapping is kept
    (only all-boolean ones, so a `1` is never taken for a `true`)."""
    consent = context.get("consent")
    prefs = consent.get("categoryPreferences") if type(consent) is dict else None
    if type(prefs) is not dict or not prefs:
        return _NO_CONSENT
    for value in prefs.values():
        if value is not True and value is not False:
            return consent_from_categories(prefs)
    key = tuple(prefs.items())
    found = _CONSENTS.get(key)
    if found is None:
        found = consent_from_categories(prefs)
        if len(_CONSENTS) < _CONSENTS_MAX:
            _CONSENTS[key] = found
    return found
