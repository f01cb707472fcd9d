"""EventRecognizer: a group of events is recognised as if one by one, with one resolution per
visit and one intent-state update per subject; concurrent requests share one group."""

from __future__ import annotations

import asyncio
from typing import Any

from netcx.adapters.storage.intent_state_memory import MemoryIntentStateStore
from netcx.domain.events import ClientAddress, ConsentState, Event, Source
from netcx.domain.pseudonyms import IdKind
from netcx.services.intents import IntentService, load_taxonomy
from netcx.services.realtime import EventRecognizer
from tests.unit.identity.fakes import IP_LINE, FakeResolver, make_service, pid

GRANT = ConsentState(analytics=True, personalisation=True)
REVOKE = ConsentState(analytics=True, personalisation=False)
CHURN = "https://shop.example/vertrag/kuendigen"


def ev(n: int, visitor: str | None, consent: ConsentState = GRANT, **kw: Any) -> Event:
    return Event(
        source=Source.SEGMENT,
        event_id=f"e{n}",
        type="page",
        received_ms=1_700_000_000_000,
        visitor_id=visitor,
        url=CHURN,
        consent=consent,
        client=ClientAddress(IP_LINE, 1500),
        **kw,
    )


BATCH = [
    ev(1, "va"),
    ev(2, "vb", ConsentState(analytics=True)),  # no personalisation consent: anonymous
    ev(3, "va"),
    ev(4, "va", REVOKE),  # a later revocation in the same batch
    ev(5, "va"),  # and a new grant after it
    ev(6, None, user_id="S9"),  # server-side call: the login only
    ev(7, None),
]


def recognizer() -> tuple[EventRecognizer, FakeResolver, IntentService]:
    resolver = FakeResolver()
    intents = IntentService(load_taxonomy(), MemoryIntentStateStore())
    return EventRecognizer(make_service(resolver), intents), resolver, intents


def test_a_batch_is_recognised_as_if_one_event_at_a_time() -> None:
    grouped, grouped_resolver, grouped_intents = recognizer()
    single, single_resolver, single_intents = recognizer()
    together = grouped.recognise_now(BATCH)
    apart = [single.recognise_now([e])[0] for e in BATCH]
    assert together == apart
    levels = [r.level.value for r in together]
    assert levels == [
        "network_line",
        "anonymous",
        "network_line",
        "anonymous",
        "network_line",
        "authenticated",
        "anonymous",
    ]
    assert together[5].ids == {"subscriber": pid(IdKind.SUBSCRIBER, "S9")}
    # One resolution per consented visit: e1+e3 are one (e2 is another visitor's), e5 another.
    assert (len(grouped_resolver.asked), len(single_resolver.asked)) == (2, 3)
    subjects = [pid(IdKind.VISITOR, "va"), pid(IdKind.LINE, "L1"), pid(IdKind.HOUSEHOLD, "H1")]
    at = 1_700_000_000_000
    assert grouped_intents.active_intents(subjects, at) == single_intents.active_intents(
        subjects, at
    )
    assert "churn_research" in {a.intent for a in grouped_intents.active_intents(subjects, at)}


def counted_groups(rec: EventRecognizer) -> list[int]:
    """The sizes of the groups `rec` recognises from now on."""
    groups: list[int] = []
    recognise_now = rec.recognise_now

    def counting(batch: Any) -> Any:
        groups.append(len(batch))
        return recognise_now(batch)

    rec.recognise_now = counting  # type: ignore[method-assign]
    return groups


def test_concurrent_requests_share_one_group_and_get_their_own_answers() -> None:
    rec, _, _ = recognizer()
    groups = counted_groups(rec)

    async def run() -> list[list[Any]]:
        requests = [[ev(10 * r + i, f"v{r}") for i in range(3)] for r in range(5)]
        return await asyncio.gather(*(rec.recognise_many(b) for b in requests))

    answers = asyncio.run(run())
    assert [len(a) for a in answers] == [3] * 5
    assert all(
        a.ids["visitor"] == pid(IdKind.VISITOR, f"v{r}") for r, b in enumerate(answers) for a in b
    )
    assert sum(groups) == 15 and len(groups) < 5


class CountingLedger:
    """Wraps a consent ledger; counts reads of histories (a read of n subjects counts n)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: list[str] = []

    def history(self, subject: str) -> Any:
        self.reads.append(subject)
        return self.inner.history(subject)

    def histories(self, subjects: Any) -> Any:
        self.reads.extend(subjects)
        return self.inner.histories(subjects)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingAudit:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.appends = 0

    def append(self, records: Any) -> None:
        self.appends += 1
        self.inner.append(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingIntents:
    def __init__(self, inner: MemoryIntentStateStore) -> None:
        self.inner = inner
        self.single = self.many = 0

    def update(self, subject: str, change: Any) -> Any:
        self.single += 1
        return self.inner.update(subject, change)

    def update_many(self, changes: Any) -> Any:
        self.many += 1
        return self.inner.update_many(changes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_group_reads_each_visits_consent_once_and_writes_audit_and_intents_once() -> None:
    service = make_service(FakeResolver())
    ledger = service.consent = CountingLedger(service.consent)  # type: ignore[assignment]
    audit = service.audit = CountingAudit(service.audit)  # type: ignore[assignment]
    store = CountingIntents(MemoryIntentStateStore())
    rec = EventRecognizer(service, IntentService(load_taxonomy(), store))  # type: ignore[arg-type]
    rec.recognise_now([ev(100 + i, f"v{i}") for i in range(4)])  # consent now on record
    ledger.reads.clear()
    audit.appends = store.single = store.many = 0
    batch = [ev(i, f"v{i % 4}") for i in range(12)]  # four returning visitors, a visit each
    answers = rec.recognise_now(batch)
    assert {a.level.value for a in answers} == {"network_line"}
    visitors = {pid(IdKind.VISITOR, f"v{i}") for i in range(4)}
    assert sorted(r for r in ledger.reads if r in visitors) == sorted(visitors)  # once each
    assert audit.appends == 1  # every visit's resolution record, in one append
    assert (store.single, store.many) == (0, 1)  # every subject's state, in one transaction


def test_with_inline_scoring_off_events_are_recognised_but_not_scored() -> None:
    """`intents.score_inline = false`: `netcx bus intents` workers score the stored events,
    so serve must not also count them into the shared state."""
    resolver = FakeResolver()
    store = MemoryIntentStateStore()
    rec = EventRecognizer(make_service(resolver), IntentService(load_taxonomy(), store), False)
    scoring, _, _ = recognizer()
    assert rec.recognise_now(BATCH) == scoring.recognise_now(BATCH)
    subjects = [pid(IdKind.VISITOR, "va"), pid(IdKind.LINE, "L1"), pid(IdKind.HOUSEHOLD, "H1")]
    assert store.get_many(subjects) == {}


def test_a_small_group_lingers_for_requests_that_arrive_meanwhile() -> None:
    """With a linger, requests arriving a moment apart (each after the previous one's group
    started) share one group, which goes as soon as it is full; without, they do not."""

    async def staggered(rec: EventRecognizer) -> list[int]:
        groups = counted_groups(rec)

        async def request(r: int) -> None:
            await asyncio.sleep(0.02 * r)  # one after the other, 20 ms apart
            await rec.recognise_many([ev(10 * r + i, f"v{r}") for i in range(2)])

        # (the 60 s linger below would time this out unless a full group goes at once)
        await asyncio.wait_for(asyncio.gather(*(request(r) for r in range(4))), 10)
        return groups

    resolver = FakeResolver()
    intents = IntentService(load_taxonomy(), MemoryIntentStateStore())
    eager = EventRecognizer(make_service(resolver), intents)
    patient = EventRecognizer(make_service(resolver), intents, linger_s=60, group_events=8)
    assert len(asyncio.run(staggered(eager))) > 1
    assert asyncio.run(staggered(patient)) == [8]
