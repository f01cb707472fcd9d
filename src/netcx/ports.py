"""Ports: the small Protocols the services need; adapters implement them (tests/contract/)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from netcx.domain.events import Event, Recognition, StoredEvent
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


class EventLog(Protocol):
    """Durable append-only log of collected events, deduplicated by (source, event_id).

    Contract (tests/contract/test_event_log.py): `append` returns only once the new events
    are durable under the configured fsync policy; an event whose key was stored before —
    earlier in the same call, in an earlier call, or before a restart, within the adapter's
    dedupe window — is not stored again; `read` shows each key once in any case.
    """

    async def append(self, events: Sequence[Event]) -> list[bool]:
        """Store the events not seen before; for each event, True if it was new."""
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


class Recognizer(Protocol):
    """Called by the collector for each newly stored event: who (pseudonymously) sent it?

    Runs on the server's event loop: must not block on slow I/O.
    """

    async def recognise(self, event: Event) -> Recognition: ...


# ---------------------------------------------------------------- intents


# ---------------------------------------------------------------- decisions and triggers
