"""Household journeys: the intents of all lines (and visitors) of one household as one journey."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from netcx.domain.intents.scoring import ActiveIntent, IntentScorer, SubjectState


class HouseholdJourney(msgspec.Struct, frozen=True):
    """What one household is researching at `at_ms`, across its members.

    A partner checking fibre on one line and another cancelling on a second line is one
    journey with two intents; `members` says whose signals are behind it.
    """

    household_id: str
    at_ms: int
    started_ms: int
    intents: tuple[ActiveIntent, ...]
    members: tuple[str, ...]


def household_journey(
    scorer: IntentScorer,
    household_id: str,
    member_states: Mapping[str, SubjectState],
    at_ms: int,
) -> HouseholdJourney | None:
    """Combine member states (keyed by line/visitor id); None when nothing is active."""
    active = scorer.active(household_id, scorer.combine(member_states), at_ms)
    if not active:
        return None
    members = tuple(
        dict.fromkeys(src for a in active for src in a.sources)
        or (m for m, st in member_states.items() if st.intents)
    )
    return HouseholdJourney(
        household_id=household_id,
        at_ms=at_ms,
        started_ms=min(a.first_signal_ms for a in active),
        intents=tuple(active),
        members=members,
    )
