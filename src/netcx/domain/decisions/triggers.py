"""The trigger payload handed to CVM systems (schema netcx.trigger v1, docs/triggers.md)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import msgspec

from netcx.domain.decisions.context import ActiveIntent, Recognition
from netcx.domain.decisions.engine import Decision
from netcx.domain.pseudonyms import IdKind, Pseudonymizer

SCHEMA: Literal["netcx.trigger"] = "netcx.trigger"
SCHEMA_VERSION: Literal[1] = 1


class TriggerIds(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """Pseudonyms for the destination (unlinkable across destinations); never raw ids."""

    account: str
    line: str | None = None
    subscriber: str | None = None
    household: str | None = None
    visitor: str | None = None


class TriggerExperience(msgspec.Struct, frozen=True, gc=False):
    id: str
    slot: str
    category: str
    reason_codes: tuple[str, ...]
    params: dict[str, str]


class TriggerIntent(msgspec.Struct, frozen=True, gc=False):
    name: str
    score: float


class Trigger(msgspec.Struct, frozen=True, gc=False):
    """One hand-off; `idempotency_key` lets the receiver drop redeliveries."""

    schema: Literal["netcx.trigger"]
    schema_version: Literal[1]
    trigger_id: str
    idempotency_key: str
    decision_id: str
    occurred_ms: int
    destination: str
    channel: str
    recognition: str
    confidence: float
    ids: TriggerIds
    intents: tuple[TriggerIntent, ...]
    experiences: tuple[TriggerExperience, ...]

    @property
    def partition_key(self) -> str:
        """Stream/topic key: the account pseudonym keeps one account's triggers in order."""
        return self.ids.account


Alias = Callable[[IdKind, str], str]
"""Internal pseudonym → the destination's pseudonym."""


def destination_alias(pseudonymizer: Pseudonymizer, destination: str, cache: int = 65_536) -> Alias:
    """Destination pseudonyms of internal pseudonyms (HMAC under the destination's key),
    memoised: the same accounts come back often and each alias costs two HMACs."""

    @lru_cache(maxsize=cache)
    def alias(kind: IdKind, internal: str) -> str:
        return pseudonymizer.pseudonym(kind, internal, destination)

    return alias


def build_trigger(
    decision: Decision,
    recognition: Recognition,
    intents: tuple[ActiveIntent, ...],
    alias: Alias,
    destination: str,
) -> Trigger | None:
    """The trigger for the shown, hand-off experiences of `decision`, or None if there are none."""
    experiences = tuple(
        TriggerExperience(c.experience_id, c.slot, c.category, c.reason_codes, c.params)
        for c in decision.shown
        if c.hand_off
    )
    if not experiences or decision.account_id is None:
        return None

    def maybe(kind: IdKind, internal: str | None) -> str | None:
        return None if internal is None else alias(kind, internal)

    account = alias(IdKind.ACCOUNT, decision.account_id)
    return Trigger(
        schema=SCHEMA,
        schema_version=SCHEMA_VERSION,
        trigger_id=f"tr_{decision.decision_id.removeprefix('dc_')}",
        idempotency_key=f"{decision.decision_id}/{destination}",
        decision_id=decision.decision_id,
        occurred_ms=decision.at_ms,
        destination=destination,
        channel=decision.channel,
        recognition=decision.recognition.value,
        confidence=round(recognition.confidence, 4),
        ids=TriggerIds(
            account=account,
            line=maybe(IdKind.LINE, recognition.line_id),
            subscriber=maybe(IdKind.SUBSCRIBER, recognition.subscriber_id),
            household=maybe(IdKind.HOUSEHOLD, recognition.household_id),
            visitor=maybe(IdKind.VISITOR, decision.visitor_id),
        ),
        intents=tuple(TriggerIntent(i.name, round(i.score, 4)) for i in intents),
        experiences=experiences,
    )


SIGNATURE_HEADER = "x-netcx-signature"
IDEMPOTENCY_HEADER = "idempotency-key"


def sign(secret: bytes, timestamp_s: int, body: bytes) -> str:
    """Webhook signature header value: `t=<unix s>,v1=<hex HMAC-SHA256 of "t." + body>`."""
    mac = hmac.new(secret, f"{timestamp_s}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp_s},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, now_s: int, tolerance_s: int = 300) -> bool:
    """What a receiver checks: a valid signature made within `tolerance_s` (no replays)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now_s - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), f"t={ts},v1={parts.get('v1', '')}")


class TriggerRecord(msgspec.Struct, frozen=True, gc=False):
    """A trigger as read from the trigger topic or stream, not yet decoded: `position` says
    where it was (`topic/partition/offset`, `stream/entry-id`) for logs and dead letters."""

    position: str
    body: bytes
