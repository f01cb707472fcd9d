"""Consent: latest decision wins per purpose; resolution needs the caller's purpose."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netcx.domain.consent import (
    ConsentDecision,
    Purpose,
    is_granted,
    kept_after_purge,
    latest_decisions,
    parse_purpose,
    resolution_allowed,
)
from netcx.errors import InvalidInput

V, L = "vi1_" + "a" * 24, "ln1_" + "b" * 24


def d(purpose: Purpose, granted: bool, at_ms: int, subject: str = V) -> ConsentDecision:
    return ConsentDecision(subject, purpose, granted, at_ms, "tag", "v1")


def test_no_decision_means_no_consent() -> None:
    assert not is_granted([], Purpose.ANALYTICS)


def test_latest_decision_wins_regardless_of_arrival_order() -> None:
    history = [d(Purpose.MARKETING, False, 300), d(Purpose.MARKETING, True, 100)]
    assert not is_granted(history, Purpose.MARKETING)
    assert is_granted([*history, d(Purpose.MARKETING, True, 301)], Purpose.MARKETING)


def test_purposes_are_independent() -> None:
    history = [d(Purpose.ANALYTICS, True, 1), d(Purpose.PERSONALISATION, False, 2)]
    assert is_granted(history, Purpose.ANALYTICS)
    assert not is_granted(history, Purpose.PERSONALISATION)
    assert not is_granted(history, Purpose.NUMBER_VERIFICATION)


def test_resolution_needs_the_visitors_grant_and_a_holder_can_veto() -> None:
    granted = [d(Purpose.PERSONALISATION, True, 1)]
    assert resolution_allowed(Purpose.PERSONALISATION, granted)
    assert not resolution_allowed(Purpose.MARKETING, granted)
    veto = [d(Purpose.PERSONALISATION, False, 5, subject=L)]
    assert not resolution_allowed(Purpose.PERSONALISATION, granted, [veto])
    # no visitor (server-to-server): the line's own grant is needed
    line_ok = [d(Purpose.NUMBER_VERIFICATION, True, 5, subject=L)]
    assert resolution_allowed(Purpose.NUMBER_VERIFICATION, None, [line_ok])
    assert not resolution_allowed(Purpose.NUMBER_VERIFICATION, None, [[]])


def test_unknown_purpose_is_named() -> None:
    assert parse_purpose("number-verification") is Purpose.NUMBER_VERIFICATION
    assert parse_purpose("number_verification") is Purpose.NUMBER_VERIFICATION
    with pytest.raises(InvalidInput, match="purpose: unknown purpose 'ads'"):
        parse_purpose("ads")


decisions = st.lists(
    st.builds(
        d,
        st.sampled_from(list(Purpose)),
        st.booleans(),
        st.integers(min_value=0, max_value=1000),
    ),
    max_size=30,
)


@given(decisions, st.integers(min_value=0, max_value=1100))
def test_purge_never_changes_what_is_in_force(history: list[ConsentDecision], cut: int) -> None:
    kept = kept_after_purge(history, cut)
    assert latest_decisions(kept) == latest_decisions(history)
    assert [x for x in history if x.at_ms >= cut] == [x for x in kept if x.at_ms >= cut]
