"""Segment HTTP tracking API payloads (track, page, screen, identify, group, alias, batch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from netcx.adapters.collect.common import (
    Arrival,
    as_dict,
    as_text,
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
        events = [
            _event(m, arrival, f"batch[{i}]", batch.context, to_ms(batch.sent_at))
            for i, m in enumerate(batch.batch)
        ]
        key = batch.write_key or next((m.write_key for m in batch.batch if m.write_key), None)
        return Decoded(events, key)
    message = decode_json(body, _decoders[kind])
    return Decoded([_event(message, arrival, "", {}, None)], message.write_key)


def _event(
    m: Message, arrival: Arrival, where: str, batch_context: dict[str, Any], sent_ms: int | None
) -> Event:
    prefix = f"{where}." if where else ""
    user_id = text_id(m.user_id)
    anonymous_id = text_id(m.anonymous_id)
    if user_id is None and anonymous_id is None:
        raise InvalidInput("either userId or anonymousId is required", field=f"{prefix}userId")
    context = {**batch_context, **m.context} if batch_context else m.context
    page = as_dict(context.get("page"))
    properties: dict[str, Any] = getattr(m, "properties", {})
    kind = m.__struct_config__.tag
    name: str | None = None
    screen: str | None = None
    if isinstance(m, Track):
        name = m.event
    elif isinstance(m, Page):
        name = m.name
    elif isinstance(m, Screen):
        name = screen = m.name
    return Event(
        source=Source.SEGMENT,
        event_id=text_id(m.message_id) or new_event_id(),
        type=str(kind),
        received_ms=arrival.received_ms,
        occurred_ms=to_ms(m.timestamp or m.original_timestamp),
        sent_ms=to_ms(m.sent_at) if m.sent_at is not None else sent_ms,
        visitor_id=anonymous_id,
        user_id=user_id,
        name=name,
        url=as_text(properties.get("url")) or as_text(page.get("url")),
        title=as_text(properties.get("title")) or as_text(page.get("title")),
        referrer=as_text(properties.get("referrer")) or as_text(page.get("referrer")),
        search=as_text(properties.get("search")) or as_text(page.get("search")),
        screen=screen,
        group_id=text_id(m.group_id) if isinstance(m, Group) else None,
        previous_id=text_id(m.previous_id) if isinstance(m, Alias) else None,
        user_agent=as_text(context.get("userAgent")) or arrival.user_agent,
        properties=properties,
        traits=m.traits if isinstance(m, Identify | Group) else {},
        contexts=[context] if context else [],
        consent=_consent(context),
        client=arrival.client,
    )


def _consent(context: dict[str, Any]) -> ConsentState:
    """Segment's consent object: `context.consent.categoryPreferences` {category: bool}."""
    prefs = as_dict(as_dict(context.get("consent")).get("categoryPreferences"))
    return consent_from_categories(prefs) if prefs else ConsentState()
