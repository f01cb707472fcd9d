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

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from functools import partial

import msgspec

from netcx.domain import events
from netcx.domain.decisions import context as dctx
from netcx.domain.identity import IntentNote, RecognitionState
from netcx.domain.identity import Recognition as IdRecognition
from netcx.domain.intents.matching import Match, Matcher, Signal
from netcx.domain.intents.scoring import ActiveIntent, IntentScorer, SubjectState
from netcx.domain.privacy import AuditRecord
from netcx.domain.pseudonyms import IdKind
from netcx.domain.resolution import Level, Resolution
from netcx.services.identity import ConsentGate, IdentityService, RecogniseRequest
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


def signal_of(event: events.EventHead) -> Signal:
    """What the taxonomy sees of a collected event."""
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


class _Visit(msgspec.Struct):
    """Consecutive events of one visitor that share everything recognition looks at
    (address, login, consent stated, arrival time): recognised once, as one resolution."""

    visitor_id: str
    user_id: str | None
    ip: str
    port: int | None
    received_ms: int
    consent: events.ConsentState
    source: str
    members: list[int]
    recognition: IdRecognition | None = None


def _visit_key(event: events.EventHead) -> tuple[object, ...]:
    assert event.client is not None
    return (
        event.user_id,
        event.client.ip,
        event.client.port,
        event.received_ms,
        event.consent,
        event.source,
    )


def _plan_visits(
    batch: Sequence[events.EventHead], subscriber: Callable[[str], str]
) -> tuple[list[list[_Visit]], dict[int, events.Recognition]]:
    """Group the events to recognise into visits, in waves: a visitor's n-th visit of the
    batch is in wave n, so consent a visitor stated later in the batch never applies to its
    earlier events. Events that need no graph lookup are answered at once (second value);
    `subscriber` pseudonymises a login id."""
    waves: list[list[_Visit]] = []
    current: dict[str, tuple[tuple[object, ...], _Visit, int]] = {}
    at_once: dict[int, events.Recognition] = {}
    for i, event in enumerate(batch):
        visitor = event.visitor_id
        if not visitor and event.user_id:
            # A server-side call with only the site's login id: the customer, no device.
            at_once[i] = events.Recognition(
                events.RecognitionLevel.AUTHENTICATED,
                "login",
                1.0,
                {"subscriber": subscriber(event.user_id)},
            )
            continue
        if not visitor or event.client is None:
            at_once[i] = _NO_VISITOR
            continue
        key = _visit_key(event)
        held = current.get(visitor)
        if held is not None and held[0] == key:
            held[1].members.append(i)
            continue
        wave = 0 if held is None else held[2] + 1
        visit = _Visit(
            visitor,
            event.user_id,
            event.client.ip,
            event.client.port,
            event.received_ms,
            event.consent,
            event.source.value,
            [i],
        )
        current[visitor] = (key, visit, wave)
        if wave == len(waves):
            waves.append([])
        waves[wave].append(visit)
    return waves, at_once


_NO_VISITOR = events.Recognition.anonymous("no_visitor_or_address")
_LEVELS = {state: events.RecognitionLevel(state.value) for state in RecognitionState}
_MATCH_CACHE = 4096


def _recognition(rec: IdRecognition) -> events.Recognition:
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
    return events.Recognition(_LEVELS[rec.state], rec.reason, rec.confidence, ids)


_Observation = tuple[Sequence[Match], int, str, str]  # matches, at_ms, source, ref


class EventRecognizer:
    """Recognises collected events and scores them into the shared intent state.

    Group commit, like the event log's: the events of every request that asks while a
    group is being recognised form the next group; a group smaller than `group_events`
    first waits up to `linger_s` for more (each group pays a transaction per store: with
    two workers, 1 ms cut single events' server CPU by a quarter).

    A group is recognised on the event loop itself, blocking it (its SQLite calls take
    milliseconds, or as long as another process holds a store's write lock — an erasure).
    A hop to a worker thread kept the loop free meanwhile but cost more than it saved:
    recognised on the loop, two workers took 13–19 % more batched events/s and 0.36×
    instead of 0.29× the raw app's single requests/s (docs/collector.md, Speed).
    Within a group, each visit (a visitor's consecutive events from one address under one
    consent statement) records its stated consent, is resolved and audited once, and each
    intent subject's state is updated once for all its events.
    """

    def __init__(
        self,
        identity: IdentityService,
        intents: IntentService,
        score: bool = True,
        *,
        linger_s: float = 0.0,
        group_events: int = 64,
    ) -> None:
        self._identity = identity
        self._intents = intents
        self._score = score  # false: `netcx bus intents` workers score the stored events
        self._linger_s = linger_s
        self._group_events = group_events
        self._filled: asyncio.Event | None = None  # set once a lingering group is full
        self._matcher = Matcher(intents.taxonomy)
        self._scorer = IntentScorer(intents.taxonomy)
        self._matches: dict[tuple[str, ...], tuple[Match, ...]] = {}
        self._pending: list[
            tuple[Sequence[events.Event], asyncio.Future[list[events.Recognition]]]
        ] = []
        self._drain: asyncio.Task[None] | None = None

    async def recognise_many(self, batch: Sequence[events.Event]) -> list[events.Recognition]:
        if not batch:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[events.Recognition]] = loop.create_future()
        drain = self._drain
        if drain is None or drain.done() or drain.get_loop() is not loop:
            # Requests left by a loop that is gone (a test client's) would never be answered.
            self._pending = [p for p in self._pending if p[1].get_loop() is loop]
            self._drain = loop.create_task(self._recognise_pending())
        self._pending.append((batch, future))
        if self._filled is not None and self._waiting() >= self._group_events:
            self._filled.set()
        return await future

    async def _recognise_pending(self) -> None:
        try:
            while self._pending:
                if self._linger_s and self._waiting() < self._group_events:
                    # Let requests arriving meanwhile join, until the group is full.
                    self._filled = asyncio.Event()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._filled.wait(), self._linger_s)
                    self._filled = None
                taken, self._pending = self._pending, []
                flat = [e for batch, _ in taken for e in batch]
                try:
                    answers = self.recognise_now(flat)
                except BaseException as err:
                    for _, future in taken:
                        if not future.done():
                            future.set_exception(err)
                    if not isinstance(err, Exception):
                        raise
                    continue
                start = 0
                for batch, future in taken:
                    if not future.done():
                        future.set_result(answers[start : start + len(batch)])
                    start += len(batch)
        finally:
            if self._drain is asyncio.current_task():
                self._drain = None

    def _waiting(self) -> int:
        return sum(len(batch) for batch, _ in self._pending)

    def recognise_now(self, batch: Sequence[events.EventHead]) -> list[events.Recognition]:
        """Recognise and score `batch` in order, blocking.

        Per wave of visits: one consent-ledger read (the reported consent is recorded and
        the same histories feed recognition), one graph read and write. Per group: one
        audit write (before any answer is returned, so before any is used) and one
        intent-state transaction for every subject."""
        identity = self._identity
        pseudonym = identity.pseudonymizer.pseudonym
        waves, out = _plan_visits(batch, partial(pseudonym, IdKind.SUBSCRIBER))
        observations: dict[str, list[_Observation]] = {}
        audits: list[AuditRecord] = []
        for wave in waves:
            reports = [
                (v.visitor_id, _reported(v.consent), v.source, "reported", v.received_ms)
                for v in wave
            ]
            histories = identity.record_reported_consents(reports)
            requests = [
                RecogniseRequest(
                    v.visitor_id, v.ip, v.port, v.received_ms, _EVENT_PURPOSE, v.user_id
                )
                for v in wave
            ]
            recognised = identity.recognise_many(requests, histories=histories, audits=audits)
            for visit, rec in zip(wave, recognised, strict=True):
                answer = _recognition(rec)
                subjects = subjects_of(rec)
                for i in visit.members:
                    out[i] = answer
                    if not self._score:
                        continue
                    event = batch[i]
                    matches = self._match(signal_of(event))
                    if matches:
                        at_ms = event.occurred_ms or event.received_ms
                        for subject in subjects:
                            observations.setdefault(subject, []).append(
                                (matches, at_ms, rec.visitor_id, event.event_id)
                            )
        identity.append_audit(audits)
        if observations:
            self._intents.store.update_many(
                {
                    subject: partial(self._observe_all, subject, seen)
                    for subject, seen in observations.items()
                }
            )
        return [out[i] for i in range(len(batch))]

    def _observe_all(
        self, subject: str, seen: Sequence[_Observation], state: SubjectState | None
    ) -> SubjectState:
        """A subject's state after the events of a group, one after the other."""
        state, _ = self._scorer.observe_many(subject, state, seen)
        return state

    def _match(self, signal: Signal) -> tuple[Match, ...]:
        """The taxonomy's matches for a signal's text; a site's pages repeat, so the
        answers of recent texts are kept."""
        key = (signal.url, signal.title, signal.search_term, signal.event_name, signal.screen)
        found = self._matches.get(key)
        if found is None:
            found = self._matches[key] = tuple(self._matcher.match(signal))
            if len(self._matches) > _MATCH_CACHE:
                del self._matches[next(iter(self._matches))]
        return found


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
