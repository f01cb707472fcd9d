"""In-memory EventLog for tests: same contract as the segment-file log, nothing durable."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from netcx.domain.events import Event, Recognition, StoredEvent
from netcx.errors import InvalidInput


class MemoryEventLog:
    """Keeps events in a list; dedupe by (source, event_id)."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._recognitions: dict[tuple[str, str], Recognition] = {}
        self._seen: set[tuple[str, str]] = set()

    async def append(self, events: Sequence[Event], *, inline: bool = False) -> list[bool]:
        # (no recognition follower reads this log: `inline` changes nothing)
        for n, event in enumerate(events):
            field = event.oversized_int_field()
            if field:
                raise InvalidInput(f"event {n}: integer outside the 64-bit range", field=field)
        flags = []
        for event in events:
            new = event.key not in self._seen
            if new:
                self._seen.add(event.key)
                self._events.append(event)
            flags.append(new)
        return flags

    async def hand_over(self, events: Sequence[Event]) -> None:
        return None  # no recognition follower reads this log

    async def record_recognitions(self, recognised: Sequence[tuple[Event, Recognition]]) -> None:
        for event, recognition in recognised:
            self._recognitions[event.key] = recognition

    def read(self) -> Iterator[StoredEvent]:
        for event in list(self._events):
            yield StoredEvent(event, self._recognitions.get(event.key))

    def purge_before(self, cutoff_ms: int) -> int:
        return self.erase(lambda e: e.received_ms < cutoff_ms)

    def erase(self, matches: Callable[[Event], bool]) -> int:
        dropped = [e for e in self._events if matches(e)]
        self._events = [e for e in self._events if not matches(e)]
        for event in dropped:
            self._recognitions.pop(event.key, None)
        return len(dropped)

    def close(self) -> None:
        """Nothing to release."""
