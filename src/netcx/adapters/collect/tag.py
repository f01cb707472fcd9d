"""Bodies the netcx tag (`/tag.js`) posts to `/v1/tag`: page views and clicks with consent."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from netcx.adapters.collect.common import Arrival, decode_json
from netcx.domain.events import ConsentState, Event, Source, consent_from_categories

Text = Annotated[str, msgspec.Meta(max_length=8192)]


class TagEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A page view, click or consent change; the tag makes `id`, so a resend is stored once."""

    id: Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    type: Literal["page", "click", "consent"]
    ts: int | None = None  # the browser's clock, epoch ms
    url: Text | None = None
    title: Text | None = None
    referrer: Text | None = None
    name: Text | None = None  # click: the element's data-netcx-track value
    props: dict[str, str] = msgspec.field(default_factory=dict)


class TagBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the tag sends: events, the page's consent state, the send time."""

    events: Annotated[list[TagEvent], msgspec.Meta(min_length=1, max_length=100)]
    consent: dict[str, Any] = msgspec.field(default_factory=dict)
    sent: int | None = None


_decoder = msgspec.json.Decoder(TagBody)


def decode(body: bytes, arrival: Arrival, visitor_id: str) -> list[Event]:
    """Events of a tag request; `visitor_id` comes from the first-party cookie, not the body."""
    parsed = decode_json(body, _decoder)
    consent = consent_from_categories(parsed.consent) if parsed.consent else ConsentState()
    return [
        Event(
            source=Source.TAG,
            event_id=e.id,
            type=e.type,
            received_ms=arrival.received_ms,
            occurred_ms=e.ts,
            sent_ms=parsed.sent,
            visitor_id=visitor_id,
            name=e.name,
            url=e.url,
            title=e.title,
            referrer=e.referrer,
            user_agent=arrival.user_agent,
            properties=dict(e.props),
            consent=consent,
            client=arrival.client,
        )
        for e in parsed.events
    ]
