"""Ports: the small Protocols the services need; adapters implement them (tests/contract/)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from netcx.domain.camara import AccessToken
from netcx.domain.camara import AuditRecord as CamaraAuditRecord
from netcx.domain.consent import ConsentDecision
from netcx.domain.decisions import context as dctx
from netcx.domain.decisions.context import Contact, CustomerFacts, VisitQuery
from netcx.domain.decisions.engine import Decision
from netcx.domain.decisions.triggers import Trigger, TriggerRecord
from netcx.domain.events import Event, Recognition, StoredEvent
from netcx.domain.identity import Edge, EdgeSource, IntentNote
from netcx.domain.intents.scoring import ActiveIntent, SubjectState
from netcx.domain.network.records import AccountingRecord, BlockEvent
from netcx.domain.privacy import AuditRecord
from netcx.domain.resolution import Resolution
from netcx.errors import ParseError

# ---------------------------------------------------------------- the world (input data)


class World(Protocol):
    """A world folder: CRM, network logs, web hits, outcomes and (simulated) ground truth.

    `table(name)` returns a table validated against its schema in `netcx.tables`, e.g.
    `table("crm/lines")`, `table("web/hits")`, `table("truth/hits")`.
    """

    path: Path

    def table(self, name: str) -> pa.Table: ...

    def has_truth(self) -> bool: ...

    def outcomes_under(self, decisions: pa.Table) -> dict[str, pa.Table]:
        """Closed loop: outcomes (churn, upgrades, nps, care_contacts) given netcx's
        DECISIONS; only a simulated world can answer this."""
        ...


# ---------------------------------------------------------------- network identity (resolver)


class Resolver(Protocol):
    """Answers (ip, port, time) → Resolution; implemented over a binding store."""

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution: ...


class BatchResolver(Protocol):
    """Resolves a whole table of hits (HITS columns) at once; same answers as `Resolver`."""

    def resolve_hits(self, hits: pa.Table) -> pa.Table:
        """Return RESOLVED_HITS, one row per input hit_id."""
        ...


class BindingJournal(Protocol):
    """Durable, append-only store of normalised RADIUS records and port-block events.

    `append_*` returns only when the records are durable (RFC 2866: acknowledge after
    recording). `read_new_*` returns what was appended (by any process) since the last call.
    """

    def append_accounting(self, records: Sequence[AccountingRecord]) -> None: ...

    def append_blocks(self, events: Sequence[BlockEvent]) -> None: ...

    def read_new_accounting(self) -> list[AccountingRecord]: ...

    def read_new_blocks(self) -> list[BlockEvent]: ...

    def purge_before(self, cutoff_ms: int) -> int: ...


class NetworkLogReader(Protocol):
    """Parses one log file; a record that does not parse comes back as a ParseError."""

    def __call__(self, path: Path) -> Iterator[AccountingRecord | BlockEvent | ParseError]: ...


class ResolveConsentGate(Protocol):
    """Hook for the consent helper: may downgrade a Resolution for the caller's purpose."""

    def gate(self, resolution: Resolution, purpose: str, at_ms: int) -> Resolution: ...


class ResolveAudit(Protocol):
    """Records every resolution asked through an API (who, purpose, answer, evidence)."""

    def record(self, caller: str, purpose: str, resolution: Resolution, at_ms: int) -> None: ...


# ---------------------------------------------------------------- collector, identity, consent

# identity & privacy (identity graph, consent ledger, audit log; see docs/privacy.md)


class IdentityStore(Protocol):
    """Edges of the identity graph, each stored once under its key (src|dst|source) and
    findable from both of its nodes."""

    def put_edges(self, edges: Sequence[Edge]) -> None:
        """Insert or replace edges by key (the service folds observations with `observe`)."""
        ...

    def edges_of(self, node: str) -> list[Edge]:
        """Every edge touching `node` (as src or dst), retracted ones included."""
        ...

    def edges_of_many(self, nodes: Sequence[str]) -> dict[str, list[Edge]]:
        """`edges_of` for each node, in one round trip where the backend allows."""
        ...

    def erase_node(self, node: str) -> int:
        """Delete every edge touching `node`; return how many were deleted."""
        ...

    def purge(self, source: EdgeSource, last_seen_before_ms: int) -> int:
        """Delete edges of `source` last seen before the cutoff; return how many."""
        ...


class ConsentLedger(Protocol):
    """Append-only consent decisions per subject; the latest per purpose is in force."""

    def append(self, decision: ConsentDecision) -> None: ...

    def history(self, subject: str) -> list[ConsentDecision]:
        """The subject's decisions in the order they were recorded (empty when none)."""
        ...

    def histories(self, subjects: Sequence[str]) -> dict[str, list[ConsentDecision]]:
        """`history` for each subject, in one round trip where the backend allows."""
        ...

    def erase_subject(self, subject: str) -> int: ...

    def purge(self, before_ms: int) -> int:
        """Delete decisions older than the cutoff that are no longer in force
        (`netcx.domain.consent.kept_after_purge`); return how many."""
        ...


class AuditLog(Protocol):
    """Append-only audit records (pseudonyms only)."""

    def append(self, records: Sequence[AuditRecord]) -> None:
        """Store the records durably, in order (one write for a batch)."""
        ...

    def read(
        self, subject: str | None = None, since_ms: int = 0, limit: int = 100
    ) -> list[AuditRecord]:
        """Records from `since_ms` on, oldest first, at most `limit`; one subject or all."""
        ...

    def erase_subject(self, subject: str) -> int: ...

    def purge(self, before_ms: int) -> int: ...


class SubjectData(Protocol):
    """Another area's store of personal data keyed by pseudonyms (event log, intents …),
    so export and erasure of a subject reach every store; bootstrap lists them."""

    name: str

    def export_subject(self, subjects: Sequence[str]) -> list[dict[str, Any]]: ...

    def erase_subject(self, subjects: Sequence[str]) -> int: ...


class RecentIntents(Protocol):
    """Intents recently detected for any of some subjects (the intents area implements it)."""

    def recent_intents(
        self, subjects: Sequence[str], since_ms: int, limit: int
    ) -> list[IntentNote]: ...


class EventLog(Protocol):
    """Durable append-only log of collected events, deduplicated by (source, event_id).

    Contract (tests/contract/test_event_log.py): `append` returns only once the new events
    are durable under the configured fsync policy; an event whose key was stored before —
    earlier in the same call, in an earlier call, or before a restart, within the adapter's
    dedupe window — is not stored again; `read` shows each key once in any case.
    """

    async def append(self, events: Sequence[Event], *, inline: bool = False) -> list[bool]:
        """Store the events not seen before; for each event, True if it was new. `inline`:
        the caller recognises them itself (and records the answers), so a recognition
        follower must pass over them."""
        ...

    async def hand_over(self, events: Sequence[Event]) -> None:
        """Store again, not `inline`, events appended `inline` whose recognition failed (the
        stores were unavailable), so that a recognition follower recognises them (`read`
        shows each key once)."""
        ...

    async def record_recognitions(self, recognised: Sequence[tuple[Event, Recognition]]) -> None:
        """Append what the recognizer answered for stored events (the latest answer wins)."""
        ...

    def read(self) -> Iterator[StoredEvent]:
        """Every stored event once, oldest first, with its latest recognition (if any)."""
        ...

    def purge_before(self, cutoff_ms: int) -> int:
        """Retention: delete events received before `cutoff_ms`; returns how many."""
        ...

    def erase(self, matches: Callable[[Event], bool]) -> int:
        """Data-subject erasure: delete every event `matches` selects; returns how many."""
        ...

    def close(self) -> None: ...


class Admission(Protocol):
    """Flow control ahead of the collector's durable append (`collect.recognition=follower`):
    returns at once while recognition keeps up; while it is too far behind, returns once it
    has caught up or a bounded wait has passed (the wait, in seconds)."""

    async def admit(self) -> float: ...


class Recognizer(Protocol):
    """Called by the collector with a request's newly stored events: who (pseudonymously)
    sent each? One answer per event, in order.

    Runs on the server's event loop: must not block on slow I/O.
    """

    async def recognise_many(self, events: Sequence[Event]) -> list[Recognition]: ...


# ---------------------------------------------------------------- intents


class IntentStateStore(Protocol):
    """Scorer state per subject (visitor, line, household), shared by every worker."""

    def get_many(self, subject_ids: Sequence[str]) -> dict[str, SubjectState]:
        """States of the subjects that have one (unknown ids are left out)."""
        ...

    def update(
        self, subject_id: str, change: Callable[[SubjectState | None], SubjectState]
    ) -> SubjectState:
        """Atomically replace a subject's state by `change(current)`; return the new state.

        `change` may run more than once when another worker wrote concurrently; the last
        run's result is stored, so it must not have side effects beyond its return value.
        """
        ...

    def update_many(
        self, changes: Mapping[str, Callable[[SubjectState | None], SubjectState]]
    ) -> dict[str, SubjectState]:
        """`update` of several subjects at once (one transaction / round trip): all are
        changed or, on an error, none. Same rule for `change` as `update`."""
        ...

    def delete(self, subject_id: str) -> bool:
        """Forget a subject (erasure); True when there was a state."""
        ...


class IntentSource(Protocol):
    """Read API of the decision helper: active intents of a visitor / line / household."""

    def active_intents(self, subject_ids: Sequence[str], at_ms: int) -> list[ActiveIntent]:
        """Active intents of each subject at `at_ms`, strongest first, with evidence."""
        ...


# ---------------------------------------------------------------- decisions and triggers


# ---------------------------------------------------------------- CAMARA Number Verification


class LineDirectory(Protocol):
    """The MSISDN of a resolved line. The raw number may be used inside the CAMARA API
    boundary only (to answer the API); it is never logged or stored elsewhere."""

    def msisdn_of(self, line_id: str) -> str | None:
        """The line's MSISDN (as stored by the operator) for a pseudonymous `line_id`;
        None for a line without one (a fixed line) or an unknown id."""
        ...


class NumberVerificationConsent(Protocol):
    """Whether the subject behind a line consents to a purpose (`number-verification`)."""

    def allows(self, line_id: str, purpose: str, at_ms: int) -> bool: ...


class NumberVerificationAudit(Protocol):
    """Append-only audit of every CAMARA use of a resolution (who, purpose, evidence, outcome)."""

    def record(self, entry: CamaraAuditRecord) -> None: ...


class AccessTokenVerifier(Protocol):
    """Verifies an OAuth 2.0 / OIDC access token (signature, issuer, audience, expiry)."""

    def verify(self, token: str) -> AccessToken:
        """The token's claims; raises Unauthorized when it is not valid now."""
        ...


class RecognitionSource(Protocol):
    """Identity area → decisions: who the visitor is now, for the query's purpose.

    Consent is applied by the source (no consent for the purpose: anonymous); the decision
    engine checks it again.
    """

    def recognise(self, query: VisitQuery) -> dctx.Recognition: ...


class SessionIntentSource(Protocol):
    """Intents area → decisions: the active (emerged) intents of the visitor and of whom it
    was recognised as (line, household), after scoring `query.event` (if any)."""

    def active_intents(
        self, query: VisitQuery, recognition: dctx.Recognition
    ) -> Sequence[dctx.ActiveIntent]: ...


class CustomerFactsSource(Protocol):
    """CRM facts (tariff, device, contract, tenure, outage in the line's area) as of `at_ms`."""

    def facts(self, recognition: dctx.Recognition, at_ms: int) -> CustomerFacts: ...


class DecisionLog(Protocol):
    """Every decision, for audit and measurement; also the contact history for caps."""

    def append(self, decision: Decision) -> None: ...

    def get(self, decision_id: str) -> Decision | None: ...

    def contacts(self, account_id: str, since_ms: int) -> list[Contact]:
        """The account's contacts (decisions that chose something) at or after `since_ms`."""
        ...

    def exposure_units(self) -> dict[tuple[str, str], int]:
        """Distinct accounts per (scope, group): ("universal", "control"|"eligible") and
        ("experience:<id>", "held_out"|"treated") — the units of the SRM check."""
        ...

    def close(self) -> None: ...


class TriggerSink(Protocol):
    """Hands triggers to a CVM destination. `submit` never blocks on the destination."""

    def submit(self, trigger: Trigger) -> None: ...

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything submitted is delivered or dead-lettered; False on timeout."""
        ...

    def close(self) -> None: ...


class TriggerTransport(Protocol):
    """One delivery attempt of an encoded trigger; raises on failure (the queue retries)."""

    def deliver(self, body: bytes, trigger: Trigger) -> None: ...

    def close(self) -> None: ...


class DeadLetterStore(Protocol):
    """Triggers whose delivery failed every attempt, kept for `netcx triggers replay`."""

    def put(self, body: bytes, trigger_id: str, error: str, at_ms: int) -> None: ...

    def list(self) -> list[tuple[str, bytes]]:
        """(trigger_id, body) of every dead letter, oldest first."""
        ...

    def remove(self, trigger_id: str) -> None: ...


# ---------------------------------------------------------------- scale-out: event bus


class EventBus(Protocol):
    """A partitioned, at-least-once transport of stored events to worker groups (a
    Kafka-protocol topic or Redis Streams). Records with one key keep their order."""

    async def publish(self, records: Sequence[tuple[str, StoredEvent]]) -> None:
        """Publish (partition key, event) pairs; returns once the bus has them durably."""
        ...

    def consumer(self, group: str, member: str) -> BusConsumer:
        """A member of consumer `group`: the group's members share the partitions, and
        each group sees every event (at least once)."""
        ...

    async def close(self) -> None: ...


class BusConsumer(Protocol):
    async def poll(self, max_records: int, timeout_ms: int) -> list[StoredEvent]:
        """Up to `max_records` events not yet committed by this group (may be empty)."""
        ...

    async def commit(self) -> None:
        """Mark everything returned by `poll` so far as processed for the group."""
        ...

    async def close(self) -> None: ...


class ResolvedEvents(Protocol):
    """What the resolution workers answered per event, stored once per event key (so a
    redelivered event is not counted or applied twice)."""

    def record(self, results: Sequence[tuple[tuple[str, str], Resolution]]) -> int:
        """Store answers for keys not stored before; return how many were new."""
        ...

    def get(self, key: tuple[str, str]) -> Resolution | None: ...

    def count(self) -> int:
        """How many distinct events have been resolved."""
        ...


# ---------------------------------------------------------------- privacy: every store


class IntentStateData(IntentStateStore, SubjectData, Protocol):
    """An IntentStateStore that also exports and erases a subject: its own state and the
    evidence its events left in other subjects' states (its line's, its household's)."""


class DecisionLogData(DecisionLog, Protocol):
    """A DecisionLog that can find and erase decisions (a data subject's, for privacy)."""

    def decisions_where(self, selected: Callable[[Decision], bool]) -> list[Decision]:
        """Every stored decision `selected` picks (any process's)."""
        ...

    def erase_decisions(self, decision_ids: Sequence[str]) -> int:
        """Delete decisions, with the contacts and exposure units they made; how many."""
        ...


@runtime_checkable
class BulkResolver(Protocol):
    """A Resolver over shared online state that answers a batch of (ip, port, at_ms) queries
    in one round trip (the bus workers resolve a polled batch at once)."""

    def resolve_many(self, queries: Sequence[tuple[str, int | None, int]]) -> list[Resolution]:
        """One answer per query, in order; the same answers as `resolve` one by one."""
        ...


# ---------------------------------------------------------------- scale-out: trigger delivery


class TriggerConsumer(Protocol):
    """A member of a consumer group on the trigger topic/stream (`netcx bus triggers`)."""

    async def poll(self, max_records: int, timeout_ms: int) -> list[TriggerRecord]:
        """Up to `max_records` records not yet committed by this group (may be empty)."""
        ...

    async def commit(self) -> None:
        """Mark everything returned by `poll` so far as processed for the group."""
        ...

    async def close(self) -> None: ...


class TriggerBus(Protocol):
    """Where `netcx serve` publishes triggers for the delivery workers to consume."""

    def consumer(self, group: str, member: str) -> TriggerConsumer: ...

    async def close(self) -> None: ...


class DeliveredTriggers(Protocol):
    """Idempotency keys of triggers a receiver acknowledged, shared by the delivery workers:
    a redelivered trigger whose key is here is not sent again."""

    def delivered(self, key: str) -> bool: ...

    def mark(self, key: str) -> None:
        """Remember `key` (for the configured time)."""
        ...

    def close(self) -> None: ...
