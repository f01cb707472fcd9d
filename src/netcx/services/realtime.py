"""The real-time path across areas: collected event → recognition → intent scoring → decision.

Each area exposes its own use case; these bridges implement one area's port over another
area's service, so the composition root can wire the live system without the areas knowing
each other:

- `EventRecognizer` — the collector's `Recognizer`: identity recognition (consent-gated,
  audited) and intent scoring of the event for the visitor, line and household.
- `DecisionSources` — the decision service's `RecognitionSource` and `SessionIntentSource`.
- `IntentNotes` — the identity context view's `RecentIntents`.
- `LineConsent` — CAMARA's `NumberVerificationConsent` over the consent ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio.to_thread

from netcx.domain import events
from netcx.domain.decisions import context as dctx
from netcx.domain.identity import IntentNote
from netcx.domain.identity import Recognition as IdRecognition
from netcx.domain.intents.matching import Signal
from netcx.domain.intents.scoring import ActiveIntent
from netcx.domain.pseudonyms import IdKind
from netcx.domain.resolution import Level, Resolution
from netcx.services.identity import ConsentGate, IdentityService
from netcx.services.intents import IntentService, signal_from_hit

_EVENT_PURPOSE = "personalisation"


def subjects_of(rec: IdRecognition) -> list[str]:
    """Intent-state subjects of a recognition: the visitor, and its line and household."""
    ids = [rec.visitor_id, rec.line_id, rec.household_id]
    return [i for i in ids if i]


def _reported(c: events.ConsentState) -> dict[str, bool | None]:
    return {
        "analytics": c.analytics,
        "personalisation": c.personalisation,
        "marketing": c.marketing,
        "number-verification": c.number_verification,
    }


def _signal(event: events.Event) -> Signal:
    channel = "app" if event.type == "screen" else "web"
    url = event.screen if event.type == "screen" else event.url
    title = event.name if event.type in ("click", "track") else event.title
    return signal_from_hit(
        event.occurred_ms or event.received_ms,
        channel,
        event.type,
        url,
        title,
        event.search,
        ref=event.event_id,
    )


class EventRecognizer:
    """Recognises each collected event and scores it into the shared intent state."""

    def __init__(self, identity: IdentityService, intents: IntentService) -> None:
        self._identity = identity
        self._intents = intents

    async def recognise(self, event: events.Event) -> events.Recognition:
        if not event.visitor_id and event.user_id:
            # A server-side call with only the site's login id: the customer, no device.
            subscriber = self._identity.pseudonymizer.pseudonym(IdKind.SUBSCRIBER, event.user_id)
            return events.Recognition(
                events.RecognitionLevel.AUTHENTICATED, "login", 1.0, {"subscriber": subscriber}
            )
        if not event.visitor_id or event.client is None:
            return events.Recognition.anonymous("no_visitor_or_address")
        rec = await anyio.to_thread.run_sync(self._recognise_and_score, event)
        ids = {
            kind: value
            for kind, value in (
                ("visitor", rec.visitor_id),
                ("line", rec.line_id),
                ("subscriber", rec.subscriber_id),
                ("household", rec.household_id),
                ("account", rec.account_id),
            )
            if value
        }
        level = events.RecognitionLevel(rec.state.value)
        return events.Recognition(level, rec.reason, rec.confidence, ids)

    def _recognise_and_score(self, event: events.Event) -> IdRecognition:
        assert event.visitor_id is not None and event.client is not None
        self._identity.record_reported_consent(
            event.visitor_id,
            _reported(event.consent),
            event.source.value,
            "reported",
            event.received_ms,
        )
        rec = self._identity.recognise(
            event.visitor_id,
            event.client.ip,
            event.client.port,
            event.received_ms,
            _EVENT_PURPOSE,
            event.user_id,
        )
        self._intents.score_event(_signal(event), subjects_of(rec), source=rec.visitor_id)
        return rec


class DecisionSources:
    """Who the visitor is and what they intend, for `DecisionService` (both of its ports)."""

    def __init__(self, identity: IdentityService, intents: IntentService) -> None:
        self._identity = identity
        self._intents = intents

    def recognise(self, query: dctx.VisitQuery) -> dctx.Recognition:
        if not query.visitor_id:
            return dctx.ANONYMOUS
        rec = self._identity.recognise(
            query.visitor_id,
            query.client_ip or "",
            query.client_port,
            query.at_ms,
            query.purpose,
            caller="decide",
        )
        consent = dctx.Consent(**{query.purpose: rec.consented})
        return dctx.Recognition(
            state=dctx.RecognitionState(rec.state.value),
            level=_level_of(rec),
            confidence=rec.confidence,
            reason=rec.reason,
            consent=consent,
            line_id=rec.line_id,
            subscriber_id=rec.subscriber_id,
            household_id=rec.household_id,
            account_id=rec.account_id,
        )

    def active_intents(
        self, query: dctx.VisitQuery, recognition: dctx.Recognition
    ) -> Sequence[dctx.ActiveIntent]:
        visitor = (
            self._identity.pseudonymizer.pseudonym(IdKind.VISITOR, query.visitor_id)
            if query.visitor_id
            else None
        )
        subjects = [s for s in (visitor, recognition.line_id, recognition.household_id) if s]
        if not subjects:
            return []
        if query.event is not None:
            e = query.event
            signal = signal_from_hit(
                e.ts_ms or query.at_ms, query.channel, e.type, e.url, e.title, e.search_term
            )
            self._intents.score_event(signal, subjects, source=subjects[0])
        strongest: dict[str, ActiveIntent] = {}
        for a in self._intents.active_intents(subjects, query.at_ms):
            if a.intent not in strongest or a.score > strongest[a.intent].score:
                strongest[a.intent] = a
        return [
            dctx.ActiveIntent(
                name=a.intent,
                score=a.score,
                evidence=tuple(f"{ev.family}:{ev.value}" for ev in a.evidence),
                emerged_ms=a.emerged_ms,
            )
            for a in sorted(strongest.values(), key=lambda a: -a.score)
        ]


def _level_of(rec: IdRecognition) -> str:
    if rec.state.value == "network_line":
        return "line"
    if rec.state.value == "network_household":
        return "household"
    return "login" if rec.state.value == "authenticated" else "unknown"


class IntentNotes:
    """Recent intents of a profile's subjects, from the shared intent state."""

    def __init__(self, intents: IntentService, clock_ms: Callable[[], int]) -> None:
        self._intents = intents
        self._clock_ms = clock_ms

    def recent_intents(
        self, subjects: Sequence[str], since_ms: int, limit: int
    ) -> list[IntentNote]:
        active = self._intents.active_intents(subjects, self._clock_ms())
        notes = [
            IntentNote(subject=a.subject_id, intent=a.intent, score=a.score, at_ms=a.emerged_ms)
            for a in active
            if a.last_signal_ms >= since_ms
        ]
        return notes[:limit]


class LineConsent:
    """`allows(line, purpose)`: the line (or its subscriber) granted the purpose and did not
    revoke it — the same rule `/v1/resolve` applies when no visitor is known."""

    def __init__(self, gate: ConsentGate) -> None:
        self._gate = gate

    def allows(self, line_id: str, purpose: str, at_ms: int) -> bool:
        probe = Resolution(level=Level.LINE, reason="probe", line_id=line_id)
        return self._gate.gate(probe, purpose, at_ms).level is not Level.UNKNOWN
