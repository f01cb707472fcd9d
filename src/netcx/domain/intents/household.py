"""Household journeys: the intents of all lines (and visitors) of one household as one journey."""

from __future__ import annotations

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
    scorer: IntentScorer, household_id: str, state: SubjectState, at_ms: int
) -> HouseholdJourney | None:
    """The journey in a household's state (fed directly, or `scorer.combine` of its members'
    states); None when nothing is active at `at_ms`."""
    active = scorer.active(household_id, state, at_ms)
    if not active:
        return None
    return HouseholdJourney(
        household_id=household_id,
        at_ms=at_ms,
        started_ms=min(a.first_signal_ms for a in active),
        intents=tuple(active),
        members=tuple(dict.fromkeys(src for a in active for src in a.sources)),
    )
