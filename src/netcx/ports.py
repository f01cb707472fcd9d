"""Ports: the small Protocols the services need; adapters implement them (tests/contract/)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from netcx.domain.decisions.context import (
    ActiveIntent,
    Contact,
    CustomerFacts,
    Recognition,
    VisitQuery,
)
from netcx.domain.decisions.engine import Decision
from netcx.domain.decisions.triggers import Trigger
from netcx.domain.resolution import Resolution

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


# ---------------------------------------------------------------- collector, identity, consent


# ---------------------------------------------------------------- intents


# ---------------------------------------------------------------- decisions and triggers


class RecognitionSource(Protocol):
    """Identity area → decisions: who the visitor is now, for the query's purpose.

    Consent is applied by the source (no consent for the purpose: anonymous); the decision
    engine checks it again.
    """

    def recognise(self, query: VisitQuery) -> Recognition: ...


class SessionIntentSource(Protocol):
    """Intents area → decisions: the active (emerged) intents of the visitor and of whom it
    was recognised as (line, household), after scoring `query.event` (if any)."""

    def active_intents(
        self, query: VisitQuery, recognition: Recognition
    ) -> Sequence[ActiveIntent]: ...


class CustomerFactsSource(Protocol):
    """CRM facts (tariff, device, contract, tenure, outage in the line's area) as of `at_ms`."""

    def facts(self, recognition: Recognition, at_ms: int) -> CustomerFacts: ...


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
