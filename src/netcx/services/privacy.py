"""Subject export and erasure for the collector's event log (a SubjectData over any EventLog)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from netcx.domain.events import StoredEvent
from netcx.domain.privacy import event_pseudonyms, exported_event
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.ports import EventLog


class EventLogSubjects:
    """The events of a subject: sent by one of its visitors (cookie, app install, alias),
    logged in as it, or recognised as it (its line, household, account). Raw ids in events
    are compared under every key version, so a rotated key still finds old events."""

    name = "events"

    def __init__(self, log: EventLog, pseudonymizer: Pseudonymizer) -> None:
        self._log = log
        self._p = pseudonymizer

    def _of(self, subjects: Sequence[str]) -> list[StoredEvent]:
        wanted = set(subjects)
        memo: dict[tuple[IdKind, str, str], str] = {}

        def pseudonym_under(version: str) -> Callable[[IdKind, str], str]:
            def pseudonym(kind: IdKind, raw: str) -> str:
                key = (kind, raw, version)
                if key not in memo:
                    memo[key] = self._p.pseudonym(kind, raw, version=version)
                return memo[key]

            return pseudonym

        under = [pseudonym_under(v) for v in self._p.versions]
        return [
            stored
            for stored in self._log.read()
            if any(event_pseudonyms(stored.event, stored.recognition, p) & wanted for p in under)
        ]

    def export_subject(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        return [exported_event(s) for s in self._of(subjects)]

    def erase_subject(self, subjects: Sequence[str]) -> int:
        keys = {s.event.key for s in self._of(subjects)}
        return self._log.erase(lambda e: e.key in keys) if keys else 0
