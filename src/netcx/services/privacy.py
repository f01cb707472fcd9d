"""Subject export and erasure (SubjectData) over the event log and the decision log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from netcx.domain.decisions.engine import Decision
from netcx.domain.events import StoredEvent
from netcx.domain.privacy import event_owner_test, exported_event, pseudonyms_under_every_key
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.ports import DecisionLogData, EventLog


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


class DecisionLogSubjects:
    """The decisions taken for a subject: for one of its visitors (the log keeps the
    caller's visitor id, hashed here under every key version) or for its account."""

    name = "decisions"

    def __init__(self, log: DecisionLogData, pseudonymizer: Pseudonymizer) -> None:
        self._log = log
        self._p = pseudonymizer

    def _of(self, subjects: Sequence[str]) -> list[Decision]:
        wanted = set(subjects)
        versions = pseudonyms_under_every_key(self._p)

        def owned(d: Decision) -> bool:
            if d.account_id in wanted:
                return True
            visitor = d.visitor_id
            if not visitor:
                return False
            return any(p(IdKind.VISITOR, visitor) in wanted for p in versions)

        return self._log.decisions_where(owned)

    def export_subject(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(d) for d in self._of(subjects)]

    def erase_subject(self, subjects: Sequence[str]) -> int:
        found = [d.decision_id for d in self._of(subjects)]
        return self._log.erase_decisions(found) if found else 0
