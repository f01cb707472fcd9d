"""Scale-out workers: consume stored events from the bus in a consumer group and resolve them.

At least once in, exactly once out: a batch's offsets are committed only after its answers
are stored, and the answer store keeps one answer per event key, so a redelivered event is
neither applied nor counted twice. When the online state (bindings, answers) is unreachable
the worker does not commit, reports `degraded` and retries; resolution answers `unknown`
with reason `online_state_unavailable` instead of failing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from netcx.domain.events import StoredEvent
from netcx.domain.resolution import Resolution
from netcx.errors import Unavailable
from netcx.ports import BulkResolver, BusConsumer, ResolvedEvents, Resolver

log = logging.getLogger("netcx.bus.worker")

DEGRADED_REASON = "online_state_unavailable"


@dataclass
class WorkerStatus:
    """What a worker reports on /healthz-style probes and metrics."""

    online_state: str = "ok"  # ok | degraded
    bus: str = "ok"  # ok | unavailable
    events_resolved: int = 0
    redeliveries: int = 0
    last_error: str = ""
    degraded_answers: int = 0
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


async def run_resolve_worker(
    consumer: BusConsumer,
    resolver: Resolver,
    answers: ResolvedEvents,
    status: WorkerStatus,
    stop: asyncio.Event,
    *,
    batch_size: int = 500,
    poll_ms: int = 100,
    retry_s: float = 0.2,
) -> None:
    """Consume, resolve, store, commit — until `stop` is set."""
    guarded = DegradingResolver(resolver, status)
    pending: list[StoredEvent] = []
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
        results = resolve_events(pending, guarded)
        if any(r.reason == DEGRADED_REASON for _, r in results):
            # Do not store degraded answers as final: retry this batch when state is back.
            await asyncio.sleep(retry_s)
            continue
        try:
            new = await asyncio.to_thread(answers.record, results)
        except Unavailable as err:
            status.set_online("degraded", str(err))
            await asyncio.sleep(retry_s)
            continue
        try:
            await consumer.commit()
        except Unavailable as err:  # answers are stored once: a redelivery is harmless
            status.set_bus("unavailable", str(err))
        status.events_resolved += new
        status.redeliveries += len(results) - new
        pending = []
