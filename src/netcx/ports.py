"""Ports: the small Protocols the services need; adapters implement them (tests/contract/)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from netcx.domain.intents.scoring import ActiveIntent, SubjectState
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

    def delete(self, subject_id: str) -> bool:
        """Forget a subject (erasure); True when there was a state."""
        ...


class IntentSource(Protocol):
    """Read API of the decision helper: active intents of a visitor / line / household."""

    def active_intents(self, subject_ids: Sequence[str], at_ms: int) -> list[ActiveIntent]:
        """Active intents of each subject at `at_ms`, strongest first, with evidence."""
        ...


# ---------------------------------------------------------------- decisions and triggers
