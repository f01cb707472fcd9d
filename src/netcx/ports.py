"""Ports: the small Protocols the services need; adapters implement them (tests/contract/)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from netcx.domain.network.records import AccountingRecord, BlockEvent
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


# ---------------------------------------------------------------- intents


# ---------------------------------------------------------------- decisions and triggers
