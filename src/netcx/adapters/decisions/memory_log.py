"""In-memory DecisionLog: the fake for tests and the hot index behind the SQLite log."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence

from netcx.domain.decisions.context import Contact
from netcx.domain.decisions.engine import Decision


def merge_contacts(a: Contact, b: Contact) -> Contact:
    """The contact of one session: latest time, every experience chosen in it."""
    ids = dict.fromkeys(a.experience_ids + b.experience_ids)
    cats = dict.fromkeys(a.categories + b.categories)
    return Contact(max(a.at_ms, b.at_ms), b.channel, b.session_id, tuple(ids), tuple(cats))


class MemoryDecisionLog:
    """Keeps every decision, contacts per account in time order and SRM exposure units."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Decision] = {}
        self._contacts: dict[str, list[Contact]] = defaultdict(list)
        self._units: dict[tuple[str, str], set[str]] = defaultdict(set)

    def append(self, decision: Decision) -> None:
        with self._lock:
            self._index(decision)

    def _index(self, decision: Decision) -> None:
        self._by_id[decision.decision_id] = decision
        account = decision.account_id
        if account is None:
            return
        contact = decision.contact()
        if contact is not None:
            contacts = self._contacts[account]
            last = contacts[-1] if contacts else None
            if last is not None and contact.session_id and last.session_id == contact.session_id:
                # One session is one contact: repeated decisions on its pages merge into it.
                contacts[-1] = merge_contacts(last, contact)
            elif last is not None and last.at_ms > contact.at_ms:
                bisect.insort(contacts, contact, key=lambda c: c.at_ms)
            else:
                contacts.append(contact)
        for cell in decision.exposure_cells():
            self._units[cell].add(account)

    def get(self, decision_id: str) -> Decision | None:
        return self._by_id.get(decision_id)

    def contacts(self, account_id: str, since_ms: int) -> list[Contact]:
        with self._lock:
            contacts = self._contacts.get(account_id)
            if not contacts:
                return []
            i = bisect.bisect_left(contacts, since_ms, key=lambda c: c.at_ms)
            return contacts[i:]

    def exposure_units(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return {cell: len(accounts) for cell, accounts in self._units.items()}

    def decisions_where(self, selected: Callable[[Decision], bool]) -> list[Decision]:
        with self._lock:
            return [d for d in self._by_id.values() if selected(d)]

    def erase_decisions(self, decision_ids: Sequence[str]) -> int:
        """Drop decisions, and so the contacts and exposure units they made."""
        ids = set(decision_ids)
        with self._lock:
            kept = [d for d in self._by_id.values() if d.decision_id not in ids]
            erased = len(self._by_id) - len(kept)
            if erased:
                self._rebuild(kept)
            return erased

    def reset(self, decisions: Sequence[Decision]) -> None:
        """Replace everything by `decisions` (in order)."""
        with self._lock:
            self._rebuild(decisions)

    def _rebuild(self, decisions: Sequence[Decision]) -> None:
        self._by_id, self._contacts, self._units = {}, defaultdict(list), defaultdict(set)
        for d in decisions:
            self._index(d)

    def __len__(self) -> int:
        return len(self._by_id)

    def close(self) -> None:
        """Nothing to release."""
