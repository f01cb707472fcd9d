"""The typed, normalised web/app event every collector source (Segment, Snowplow, tag) becomes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec


class Source(StrEnum):
    """Which collector protocol an event arrived through."""

    SEGMENT = "segment"
    SNOWPLOW = "snowplow"
    TAG = "tag"


class ConsentState(msgspec.Struct, frozen=True, omit_defaults=True):
    """Consent the client reported with the event, per purpose; None = not stated.

    The consent ledger (identity area) is the authority at resolution time; this is what the
    page or app said when it sent the event, kept as evidence.
    """

    analytics: bool | None = None
    personalisation: bool | None = None
    marketing: bool | None = None
    number_verification: bool | None = None


PURPOSE_ALIASES: dict[str, str] = {
    "analytics": "analytics",
    "statistics": "analytics",
    "performance": "analytics",
    "personalisation": "personalisation",
    "personalization": "personalisation",
    "functional": "personalisation",
    "marketing": "marketing",
    "advertising": "marketing",
    "number-verification": "number_verification",
    "number_verification": "number_verification",
    "numberverification": "number_verification",
}
"""Category names consent tools use (Segment consent categories, CMPs) → netcx purposes."""


def consent_from_categories(categories: dict[str, Any]) -> ConsentState:
    """Map a {category: bool} object (case-insensitive names) onto netcx purposes.

    Unknown categories and non-boolean values are ignored: they state nothing about our
    purposes. When two aliases of one purpose disagree, refusal wins.
    """
    found: dict[str, bool] = {}
    for name, value in categories.items():
        purpose = PURPOSE_ALIASES.get(name.strip().lower())
        if purpose is None or not isinstance(value, bool):
            continue
        found[purpose] = found.get(purpose, True) and value
    return ConsentState(**found)


class ClientAddress(msgspec.Struct, frozen=True, omit_defaults=True):
    """The public address the event came from (raw IP: stays inside the identity boundary)."""

    ip: str
    port: int | None = None


class EventHead(msgspec.Struct, frozen=True, omit_defaults=True):
    """The fields of an event recognition reads: who sent it, from where, under what
    consent, and what the taxonomy matches (page, title, search, screen).

    `Event` extends it with everything else it keeps. The recognition follower decodes
    stored events as `EventHead`: msgpack skips the other fields, and leaving out their
    dicts (properties, traits, contexts) cut its CPU per event by about 40 % on a backlog
    of real batches (bench/follower_backlog.py: 20.3 → 12.4 µs)."""

    source: Source
    event_id: str
    type: str
    received_ms: int
    occurred_ms: int | None = None  # the client's event time
    visitor_id: str | None = None  # anonymousId / Snowplow domain or network user id / cookie
    user_id: str | None = None  # the site's login id, when known
    name: str | None = None
    url: str | None = None
    title: str | None = None
    search: str | None = None
    screen: str | None = None
    consent: ConsentState = ConsentState()
    client: ClientAddress | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Dedupe key: a retried event (same source and id) is stored once."""
        return (self.source._value_, self.event_id)  # not .value: a property, 4x slower


class Event(EventHead, frozen=True, omit_defaults=True):
    """One collected event, whatever protocol it came in by.

    `type` is the protocol's event kind, normalised to: track, page, screen, identify, group,
    alias (Segment names), click (tag), and for Snowplow page_view, page_ping, struct,
    self_describing, transaction, transaction_item. `name` is the track event name / page or
    screen name / Snowplow structured action. `properties` and `contexts` are kept as sent.
    """

    sent_ms: int | None = None  # the client's send time (for clock-skew correction)
    referrer: str | None = None
    group_id: str | None = None
    previous_id: str | None = None
    user_agent: str | None = None
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    traits: dict[str, Any] = msgspec.field(default_factory=dict)
    contexts: list[dict[str, Any]] = msgspec.field(default_factory=list)

    def oversized_int_field(self) -> str | None:
        """The first field holding an integer a 64-bit store cannot hold, if any."""
        return (
            oversized_int_path(self.properties, "properties")
            or oversized_int_path(self.traits, "traits")
            or oversized_int_path(self.contexts, "contexts")
        )


class RecognitionLevel(StrEnum):
    """How well netcx recognised the sender of an event, weakest first."""

    ANONYMOUS = "anonymous"
    NETWORK_HOUSEHOLD = "network_household"
    NETWORK_LINE = "network_line"
    AUTHENTICATED = "authenticated"


class Recognition(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the identity graph answered for one event. Ids are pseudonyms, never raw ids.

    `reason` is a stable code (e.g. `no_consent`, `port_block`, `login`); `ids` maps an id
    kind (visitor, line, subscriber, household, account) to its pseudonym.
    """

    level: RecognitionLevel
    reason: str = ""
    confidence: float = 0.0
    ids: dict[str, str] = msgspec.field(default_factory=dict)

    @classmethod
    def anonymous(cls, reason: str = "") -> Recognition:
        return cls(level=RecognitionLevel.ANONYMOUS, reason=reason)


class StoredEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """An event as read back from the event log, with its latest recognition (None: pending)."""

    event: Event
    recognition: Recognition | None = None


_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def oversized_int_path(value: Any, path: str) -> str | None:
    """Path of the first integer a 64-bit store cannot hold (JSON allows any size), or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return path if not _INT_MIN <= value <= _INT_MAX else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = oversized_int_path(v, f"{path}.{k}")
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = oversized_int_path(v, f"{path}[{i}]")
            if found:
                return found
    return None
