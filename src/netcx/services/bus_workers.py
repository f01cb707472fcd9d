"""Scale-out workers: consume the bus in a consumer group and resolve events, score their
intents, or deliver triggers to the operator's CX/CVM systems.

At least once in, exactly once out: a batch's offsets are committed only after its answers
are stored, and the answer store keeps one answer per event key, so a redelivered event is
neither applied nor counted twice. When the online state (bindings, answers) is unreachable
the worker does not commit, reports `degraded` and retries; resolution answers `unknown`
with reason `online_state_unavailable` instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

import msgspec

from netcx.domain.decisions.triggers import Trigger, TriggerRecord
from netcx.domain.events import Event, StoredEvent
from netcx.domain.intents.matching import Match, Matcher
from netcx.domain.intents.scoring import IntentScorer, SubjectState
from netcx.domain.pseudonyms import IdKind
from netcx.domain.resolution import Resolution
from netcx.errors import Unavailable
from netcx.ports import (
    BulkResolver,
    BusConsumer,
    DeadLetterStore,
    DeliveredTriggers,
    ResolvedEvents,
    Resolver,
    TriggerConsumer,
    TriggerSink,
    TriggerTransport,
)
from netcx.services.intents import IntentService
from netcx.services.realtime import signal_of

log = logging.getLogger("netcx.bus.worker")

DEGRADED_REASON = "online_state_unavailable"


@dataclass
class WorkerStatus:
    """What a worker reports on /healthz-style probes and metrics."""

    online_state: str = "ok"  # ok | degraded
    bus: str = "ok"  # ok | unavailable
    events_resolved: int = 0
    events_scored: int = 0  # intent worker: events consumed and scored (not redelivered)
    intent_applied: int = 0  # intent worker: of those, events that changed an intent state
    redeliveries: int = 0
    last_error: str = ""
    degraded_answers: int = 0
    triggers_delivered: int = 0  # trigger worker: acknowledged by the receiver
    triggers_dead_lettered: int = 0  # trigger worker: failed every attempt, or refused
    triggers_malformed: int = 0  # trigger worker: records that are no trigger (dead-lettered)
    history: list[str] = field(default_factory=list)

    def set_online(self, state: str, error: str = "") -> None:
        if state != self.online_state:
            log.warning("online_state state=%s error=%s", state, error)
            self.history.append(state)
        self.online_state = state
        self.last_error = error

    def set_bus(self, state: str, error: str = "") -> None:
        if state != self.bus:
            log.warning("bus state=%s error=%s", state, error)
        self.bus = state
        self.last_error = error


class DegradingResolver:
    """A Resolver over online state that answers `unknown` while that state is unreachable."""

    def __init__(self, inner: Resolver, status: WorkerStatus) -> None:
        self._inner = inner
        self._status = status

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        try:
            answer = self._inner.resolve(ip, port, at_ms)
        except Unavailable as err:
            self._status.set_online("degraded", str(err))
            self._status.degraded_answers += 1
            return Resolution.unknown(DEGRADED_REASON)
        self._status.set_online("ok")
        return answer

    def resolve_many(self, queries: Sequence[tuple[str, int | None, int]]) -> list[Resolution]:
        """A batch in one round trip when the inner resolver can (`BulkResolver`)."""
        if not isinstance(self._inner, BulkResolver):
            return [self.resolve(*q) for q in queries]
        try:
            answers = self._inner.resolve_many(queries)
        except Unavailable as err:
            self._status.set_online("degraded", str(err))
            self._status.degraded_answers += len(queries)
            return [Resolution.unknown(DEGRADED_REASON)] * len(queries)
        self._status.set_online("ok")
        return answers


def resolve_events(
    items: Sequence[StoredEvent], resolver: DegradingResolver
) -> list[tuple[tuple[str, str], Resolution]]:
    """The network answer for each event: who held its client address when the collector
    received it (server time: the client's clocks say nothing about the network)."""
    queries = [
        (e.client.ip, e.client.port, e.received_ms)
        for e in (item.event for item in items)
        if e.client is not None
    ]
    answers = iter(resolver.resolve_many(queries))
    no_address = Resolution.unknown("no_client_address")
    return [
        (item.event.key, no_address if item.event.client is None else next(answers))
        for item in items
    ]


_T = TypeVar("_T")


class _GroupMember(Protocol[_T]):
    """What `_consume` needs of a consumer (BusConsumer, TriggerConsumer)."""

    async def poll(self, max_records: int, timeout_ms: int) -> list[_T]: ...

    async def commit(self) -> None: ...


@dataclass(frozen=True)
class Polling:
    """How a bus worker reads its group: up to `batch_size` records per poll, waiting up to
    `poll_ms` for them; `retry_s` between attempts while the bus or its state is down."""

    batch_size: int = 500
    poll_ms: int = 100
    retry_s: float = 0.2


async def _consume(
    consumer: _GroupMember[_T],
    status: WorkerStatus,
    stop: asyncio.Event,
    apply: Callable[[list[_T]], Awaitable[bool]],
    polling: Polling,
) -> None:
    """The at-least-once loop every bus worker shares: poll a batch, `apply` it, commit.

    `apply` returns False when its state is unreachable (it sets the status): the batch is
    neither committed nor dropped but applied again after `polling.retry_s`. An `apply` must
    be idempotent: a batch applied before a crash (or a failed commit) comes back."""
    batch_size, poll_ms, retry_s = polling.batch_size, polling.poll_ms, polling.retry_s
    pending: list[_T] = []
    while not stop.is_set():
        if not pending:
            try:
                pending = await consumer.poll(batch_size, poll_ms)
                status.set_bus("ok")
            except Unavailable as err:
                status.set_bus("unavailable", str(err))
                await asyncio.sleep(retry_s)
                continue
        if not pending:
            continue
        if not await apply(pending):
            await asyncio.sleep(retry_s)
            continue
        try:
            await consumer.commit()
        except Unavailable as err:  # the batch is applied once: a redelivery is harmless
            status.set_bus("unavailable", str(err))
        pending = []


async def run_resolve_worker(
    consumer: BusConsumer,
    resolver: Resolver,
    answers: ResolvedEvents,
    status: WorkerStatus,
    stop: asyncio.Event,
    polling: Polling = Polling(),
) -> None:
    """Consume, resolve, store, commit — until `stop` is set."""
    guarded = DegradingResolver(resolver, status)

    async def apply(pending: list[StoredEvent]) -> bool:
        results = resolve_events(pending, guarded)
        if any(r.reason == DEGRADED_REASON for _, r in results):
            # Do not store degraded answers as final: retry this batch when state is back.
            return False
        try:
            new = await asyncio.to_thread(answers.record, results)
        except Unavailable as err:
            status.set_online("degraded", str(err))
            return False
        status.events_resolved += new
        status.redeliveries += len(results) - new
        return True

    await _consume(consumer, status, stop, apply, polling)


# ---------------------------------------------------------------- intent scoring

APPLIED_KEEP = 1000
"""Event keys remembered per subject: a redelivery (the uncommitted batches of a worker that
stopped) is recognised as long as the subject saw fewer newer events than this since."""


def event_ref(event: Event) -> str:
    """The ledger key of an event (its dedupe key)."""
    return f"{event.source.value}:{event.event_id}"


def intent_subjects(item: StoredEvent, pseudonym: Callable[[IdKind, str], str]) -> list[str]:
    """Who an event's intents belong to without asking the network: its visitor (or, for a
    login-only call, the subscriber), and the line and household its stored recognition
    names, as the real-time path scores them."""
    event, ids = item.event, (item.recognition.ids if item.recognition is not None else {})
    first: str | None = None
    if event.visitor_id:
        first = pseudonym(IdKind.VISITOR, event.visitor_id)
    elif event.user_id:
        first = pseudonym(IdKind.SUBSCRIBER, event.user_id)
    out = [first] if first else []
    out += [ids[k] for k in ("line", "household") if ids.get(k) and ids[k] not in out]
    return out


class BusIntentScorer:
    """Scores a batch of stored events into the shared intent state, idempotently: each
    subject's state carries the keys of the events already in it (`SubjectState.applied`),
    checked and extended in the same atomic update as the scores."""

    def __init__(
        self,
        intents: IntentService,
        pseudonym: Callable[[IdKind, str], str],
        keep: int = APPLIED_KEEP,
    ) -> None:
        self._store = intents.store
        self._matcher = Matcher(intents.taxonomy)
        self._scorer = IntentScorer(intents.taxonomy)
        self._pseudonym = pseudonym
        self._keep = keep

    def score(self, items: Sequence[StoredEvent]) -> tuple[int, int]:
        """Apply the events; returns (events newly applied, events already applied)."""
        seen: dict[str, list[_Seen]] = {}
        for item in items:
            e = item.event
            signal = signal_of(e)
            matches = tuple(self._matcher.match(signal))
            if not matches:
                continue
            subjects = intent_subjects(item, self._pseudonym)
            for subject in subjects:
                seen.setdefault(subject, []).append((matches, signal.ts_ms, subjects[0], e))
        if not seen:
            return 0, 0
        tally: dict[str, tuple[set[str], set[str]]] = {}

        def change(subject: str, state: SubjectState | None) -> SubjectState:
            done = set(state.applied) if state is not None else set()
            new_refs: set[str] = set()
            old_refs: set[str] = set()
            applied = list(state.applied) if state is not None else []
            for matches, at_ms, source, event in seen[subject]:
                ref = event_ref(event)
                if ref in done:
                    old_refs.add(ref)
                    continue
                state, _ = self._scorer.observe(
                    subject, state, matches, at_ms, source=source, ref=event.event_id
                )
                done.add(ref)
                new_refs.add(ref)
                applied.append(ref)
            tally[subject] = (new_refs, old_refs)  # the stored (last) run's count
            assert state is not None
            return msgspec.structs.replace(state, applied=tuple(applied[-self._keep :]))

        self._store.update_many({s: partial(change, s) for s in seen})
        new = set[str]().union(*(n for n, _ in tally.values()))
        old = set[str]().union(*(o for _, o in tally.values())) - new
        return len(new), len(old)


_Seen = tuple[tuple[Match, ...], int, str, Event]  # matches, at_ms, source, event


async def run_intent_worker(
    consumer: BusConsumer,
    scorer: BusIntentScorer,
    status: WorkerStatus,
    stop: asyncio.Event,
    polling: Polling = Polling(),
) -> None:
    """Consume, score into the intent state, commit — until `stop` is set. While the intent
    state is unreachable the worker reports `degraded` and retries the batch uncommitted."""

    async def apply(pending: list[StoredEvent]) -> bool:
        try:
            new, old = await asyncio.to_thread(scorer.score, pending)
        except Unavailable as err:
            status.set_online("degraded", str(err))
            return False
        status.set_online("ok")
        status.events_scored += len(pending) - old
        status.intent_applied += new
        status.redeliveries += old
        return True

    await _consume(consumer, status, stop, apply, polling)


# ---------------------------------------------------------------- trigger delivery

_decode_trigger = msgspec.json.Decoder(Trigger).decode
_TRIGGER_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_FIELD = re.compile(r" - at `([^`]*)`")


class OnceTransport:
    """A TriggerTransport that does not send a trigger the shared ledger has as delivered
    (a redelivery after a crash or rebalance), and records each one the receiver
    acknowledged. A worker killed between the receiver's answer and `mark` sends that
    trigger again: at least once to the receiver, with its idempotency key in a header."""

    def __init__(self, inner: TriggerTransport, ledger: DeliveredTriggers) -> None:
        self._inner = inner
        self._ledger = ledger
        self.sent = 0
        self.skipped = 0
        self.ledger_errors = 0

    def deliver(self, body: bytes, trigger: Trigger) -> None:
        if self.handled(trigger.idempotency_key):
            self.skipped += 1
            return
        self._inner.deliver(body, trigger)
        self.sent += 1
        self.remember(trigger.idempotency_key)

    # An unreachable ledger costs at most a repeat the receiver drops by its idempotency key;
    # it never holds a trigger back or sends a delivered one into retries.

    def handled(self, key: str) -> bool:
        """Whether the ledger has `key` (False when it cannot say)."""
        try:
            return self._ledger.delivered(key)
        except Unavailable as err:
            self._ledger_down(err)
            return False

    def remember(self, key: str) -> None:
        try:
            self._ledger.mark(key)
        except Unavailable as err:
            self._ledger_down(err)

    def _ledger_down(self, err: Unavailable) -> None:
        self.ledger_errors += 1
        log.warning("delivered-trigger ledger unavailable error=%s", err)

    def close(self) -> None:
        self._inner.close()
        self._ledger.close()


class TriggerDelivery:
    """Delivers a polled batch of trigger records through `sink` (the webhook queue: signed,
    retried with backoff, dead-lettered) over `once`, and waits until each one is delivered,
    skipped as delivered before, or dead-lettered. A record that is no trigger is
    dead-lettered as it came (no personal data logged) and the batch goes on."""

    def __init__(
        self,
        sink: TriggerSink,
        once: OnceTransport,
        dead_letters: DeadLetterStore,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.sink = sink
        self._once = once
        self._dead = dead_letters
        self._clock_ms = clock_ms

    def submit(self, records: Sequence[TriggerRecord]) -> tuple[int, int, int]:
        """Hand the batch's triggers to the sink; returns (submitted, malformed, malformed
        records seen before: redelivered, or replayed in another group)."""
        submitted = malformed = again = 0
        for record in records:
            try:
                trigger = _decode_trigger(record.body)
                if not _TRIGGER_ID.fullmatch(trigger.trigger_id):
                    raise msgspec.ValidationError(
                        "trigger_id: not a trigger id - at `$.trigger_id`"
                    )
            except msgspec.DecodeError as err:  # ValidationError too
                seen = f"malformed/{record.position}"
                if self._once.handled(seen):
                    again += 1
                else:
                    self._dead_letter_malformed(record, err)
                    self._once.remember(seen)
                    malformed += 1
                continue
            self.sink.submit(trigger)
            submitted += 1
        return submitted, malformed, again

    def _dead_letter_malformed(self, record: TriggerRecord, err: msgspec.DecodeError) -> None:
        name = f"malformed-{_UNSAFE.sub('-', record.position)}"[:160]
        where = _FIELD.search(str(err))
        # Only the record's position and the failing field: values may be personal data.
        log.warning(
            "malformed trigger dead-lettered position=%s error=%s field=%s",
            record.position,
            "invalid" if isinstance(err, msgspec.ValidationError) else "not_json",
            where.group(1) if where else "-",
        )
        self._dead.put(record.body, name, f"malformed trigger: {err}", self._clock_ms())

    def counts(self) -> tuple[int, int]:
        """(sent, skipped as already delivered) so far."""
        return self._once.sent, self._once.skipped


async def run_trigger_worker(
    consumer: TriggerConsumer,
    delivery: TriggerDelivery,
    status: WorkerStatus,
    stop: asyncio.Event,
    polling: Polling = Polling(batch_size=50),
    *,
    flush_poll_s: float = 0.2,
) -> None:
    """Consume triggers, deliver each (or dead-letter it), commit — until `stop` is set. A
    batch still being delivered when `stop` comes is not committed: the group's other
    members (or this one, restarted) get it again and the ledger skips what was delivered."""

    async def apply(pending: list[TriggerRecord]) -> bool:
        sent0, skipped0 = delivery.counts()
        submitted, malformed, again = delivery.submit(pending)
        status.triggers_malformed += malformed
        status.redeliveries += again
        while not await asyncio.to_thread(delivery.sink.flush, flush_poll_s):
            if stop.is_set():
                return False
        sent, skipped = delivery.counts()
        status.triggers_delivered += sent - sent0
        status.redeliveries += skipped - skipped0
        status.triggers_dead_lettered += submitted - (sent - sent0) - (skipped - skipped0)
        return True

    try:
        await _consume(consumer, status, stop, apply, polling)
    finally:
        delivery.sink.close()
