"""Ports: the small Protocols the services need; adapters implement them (tests/contract/)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from netcx.domain.consent import ConsentDecision
from netcx.domain.identity import Edge, EdgeSource, IntentNote
from netcx.domain.privacy import AuditRecord
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


# ---------------------------------------------------------------- intents


# ---------------------------------------------------------------- decisions and triggers
