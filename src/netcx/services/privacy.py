"""Subject export and erasure for the collector's event log (a SubjectData over any EventLog)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from netcx.domain.events import StoredEvent
from netcx.domain.privacy import event_owner_test, exported_event
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.ports import EventLog


class EventLogSubjects:
    """The events of a subject: sent by one of its visitors (cookie, app install, alias),
    logged in as it, or recognised as it (its line, household, account)."""

    name = "events"

    def __init__(self, log: EventLog, pseudonymizer: Pseudonymizer) -> None:
        self._log = log
        self._p = pseudonymizer

    def _of(self, subjects: Sequence[str]) -> list[StoredEvent]:
        owned = event_owner_test(subjects, self._p)
        return [stored for stored in self._log.read() if owned(stored)]

    def export_subject(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        return [exported_event(s) for s in self._of(subjects)]

    def erase_subject(self, subjects: Sequence[str]) -> int:
        keys = {s.event.key for s in self._of(subjects)}
        return self._log.erase(lambda e: e.key in keys) if keys else 0
