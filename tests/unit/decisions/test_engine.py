"""The decision engine on the seed's cases, contact policy, arbitration and guards."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netcx.domain.decisions.context import Contact, RecognitionState
from netcx.domain.decisions.engine import Decision, DecisionEngine
from netcx.domain.decisions.policy import INTENTS
from tests.unit.decisions.helpers import (
    DAY,
    NOW,
    ctx,
    default_policy,
    household_visitor,
    line_visitor,
    mobile_facts,
    outage,
    without_holdouts,
)

ENGINE = DecisionEngine(without_holdouts(default_policy()))


def chosen(decision: Decision) -> list[str]:
    return [c.experience_id for c in decision.chosen]


def test_leaving_subscriber_gets_retention_and_a_save_offer_handed_off() -> None:
    d = ENGINE.decide(ctx(("churn_research", 0.9)), [], "d1")
    assert chosen(d) == ["retention_save_offer", "retention_follow_up"]
    offer = d.chosen[0]
    assert offer.category == "retention" and offer.hand_off
    assert offer.params == {"tariff": "mobile_basic", "offer": "loyalty_discount_12m"}
    assert "intent:churn_research" in offer.reason_codes
    assert "consent:personalisation" in offer.reason_codes
    assert d.intent == "churn_research" and d.shown == d.chosen and not d.holdout


@settings(max_examples=200, deadline=None)
@given(
    others=st.lists(st.sampled_from(sorted(INTENTS)), max_size=4, unique=True),
    state=st.sampled_from(list(RecognitionState)),
    consent=st.booleans(),
)
def test_a_cancellation_researcher_never_gets_an_acquisition_offer(
    others: list[str], state: RecognitionState, consent: bool
) -> None:
    intents = [(name, 0.5) for name in {"churn_research", *others}]
    rec = line_visitor(state=state, personalisation=consent)
    d = ENGINE.decide(ctx(*intents, recognition=rec), [], "d")
    assert all(c.category != "acquisition" for c in d.chosen)


def test_loyal_device_researcher_gets_own_upgrade_terms_and_a_follow_up() -> None:
    d = ENGINE.decide(ctx(("upgrade", 0.8)), [], "d")
    assert chosen(d) == ["upgrade_own_terms", "upgrade_follow_up"]
    assert d.chosen[0].params["contract_end_ms"] == str(NOW + 30 * DAY)
    assert d.chosen[0].params["device_model"] == "Pixel 7"
    assert "fact:loyal" in d.chosen[0].reason_codes
    # a newer customer gets guidance on their terms but no follow-up campaign
    new = ENGINE.decide(
        ctx(("upgrade", 0.8), facts=mobile_facts(customer_since_ms=NOW - DAY)), [], "d"
    )
    assert chosen(new) == ["upgrade_guidance"]


def test_fibre_household_is_an_existing_customer_not_a_prospect() -> None:
    d = ENGINE.decide(ctx(("fibre_availability", 0.7), recognition=household_visitor()), [], "d")
    assert chosen(d) == ["fibre_existing_customer_upgrade", "fibre_upgrade_follow_up"]
    anon = ENGINE.decide(
        ctx(
            ("fibre_availability", 0.7), recognition=line_visitor(state=RecognitionState.ANONYMOUS)
        ),
        [],
        "d",
    )
    assert chosen(anon) == ["fibre_prospect_funnel"]
    assert anon.account_id is None


def test_outage_area_gets_reassurance_with_the_eta() -> None:
    d = ENGINE.decide(ctx(("outage", 0.9), facts=mobile_facts(outage=outage())), [], "d")
    assert chosen(d) == ["outage_reassurance"]
    assert d.chosen[0].params == {"outage_id": "o1", "eta_ms": str(NOW + 5_400_000)}
    # the outage is over: status help instead of reassurance
    later = ctx(("outage", 0.9), facts=mobile_facts(outage=outage()), at_ms=NOW + 8_000_000)
    assert chosen(ENGINE.decide(later, [], "d")) == ["outage_status_help"]


def test_outage_reassurance_outranks_a_cancellation_offer() -> None:
    d = ENGINE.decide(
        ctx(("churn_research", 0.9), ("outage", 0.6), facts=mobile_facts(outage=outage())), [], "d"
    )
    assert chosen(d) == ["outage_reassurance", "retention_follow_up"]
    assert any(
        r.experience_id == "retention_save_offer"
        and r.reason == "arbitration:lost_to:outage_reassurance"
        for r in d.rejected
    )


def test_roaming_researcher_gets_the_option_for_their_tariff() -> None:
    d = ENGINE.decide(ctx(("roaming", 0.6), facts=mobile_facts(tariff="mobile_xl")), [], "d")
    assert chosen(d) == ["roaming_option_for_tariff"]
    assert d.chosen[0].params == {"tariff": "mobile_xl", "option": "roam_included"}
    other = ENGINE.decide(ctx(("roaming", 0.6), facts=mobile_facts(tariff="odd_plan")), [], "d")
    assert other.chosen[0].params["option"] == "roam_day_pass"
    # a household (fixed line): which mobile line travels is unknown → the overview
    fixed = ENGINE.decide(ctx(("roaming", 0.6), facts=mobile_facts(line_kind="fixed")), [], "d")
    assert chosen(fixed) == ["roaming_overview"]


def test_defaults_for_tariff_device_and_billing() -> None:
    assert chosen(ENGINE.decide(ctx(("tariff_comparison", 0.5)), [], "d")) == [
        "tariff_review_own_usage"
    ]
    dev = ENGINE.decide(ctx(("device_compatibility", 0.5)), [], "d")
    assert chosen(dev) == ["device_compatibility_own_device"]
    assert dev.chosen[0].params == {"device_model": "Pixel 7"}
    assert chosen(ENGINE.decide(ctx(("billing_problem", 0.5)), [], "d")) == [
        "billing_explainer",
        "billing_care_follow_up",
    ]


def test_anonymous_and_unconsented_visitors_get_the_generic_experience() -> None:
    anon = line_visitor(state=RecognitionState.ANONYMOUS)
    d = ENGINE.decide(ctx(("churn_research", 0.9), recognition=anon), [], "d")
    assert chosen(d) == ["generic_experience"]
    no_consent = ENGINE.decide(
        ctx(("churn_research", 0.9), recognition=line_visitor(personalisation=False)), [], "d"
    )
    assert chosen(no_consent) == ["generic_experience"]
    assert no_consent.recognition == RecognitionState.ANONYMOUS
    assert no_consent.account_id is None
    assert all(not c.params for c in no_consent.chosen)


def contact(at_ms: int, session: str, *ids: str, category: str = "upgrade") -> Contact:
    return Contact(at_ms, "web", session, ids, tuple(category for _ in ids))


def test_frequency_cap_per_account_and_channel() -> None:
    history = [contact(NOW - i * 3_600_000 - 1, f"old{i}", "x") for i in range(1, 4)]
    d = ENGINE.decide(ctx(("tariff_comparison", 0.5)), history, "d")
    assert chosen(d) == []
    assert d.rejected[0].reason == "cap:any:3/86400s"
    # two web sessions in the last hour cap the web, not the app
    recent = [contact(NOW - 60_000, "a", "x"), contact(NOW - 120_000, "b", "x")]
    assert ENGINE.decide(ctx(("tariff_comparison", 0.5)), recent, "d").rejected[0].reason == (
        "cap:web:2/3600s"
    )
    assert chosen(ENGINE.decide(ctx(("tariff_comparison", 0.5), channel="app"), recent, "d")) == [
        "tariff_review_own_usage"
    ]


def test_the_same_session_is_one_contact_and_service_is_not_capped() -> None:
    same = [contact(NOW - 60_000 * i, "s1", "tariff_review_own_usage") for i in range(1, 6)]
    assert chosen(ENGINE.decide(ctx(("tariff_comparison", 0.5)), same, "d")) == [
        "tariff_review_own_usage"
    ]
    full = [contact(NOW - i * 60_000, f"o{i}", "x") for i in range(1, 4)]
    assert chosen(ENGINE.decide(ctx(("device_compatibility", 0.5)), full, "d")) == [
        "device_compatibility_own_device"
    ]


def test_cooldown_per_experience() -> None:
    history = [contact(NOW - 2 * DAY, "old", "retention_save_offer", category="retention")]
    d = ENGINE.decide(ctx(("churn_research", 0.9)), history, "d")
    # the offer is not repeated within a week; the retention content is shown instead
    assert chosen(d) == ["retention_content", "retention_follow_up"]
    assert ("retention_save_offer", "cooldown:604800s") in [
        (r.experience_id, r.reason) for r in d.rejected
    ]
    later = ENGINE.decide(ctx(("churn_research", 0.9), at_ms=NOW + 6 * DAY), history, "d")
    assert chosen(later)[0] == "retention_save_offer"


def test_suppression_after_churn_and_upgrade() -> None:
    churned = mobile_facts(last_churn_ms=NOW - DAY)
    d = ENGINE.decide(ctx(("churn_research", 0.9), facts=churned), [], "d")
    assert chosen(d) == []
    assert {r.reason for r in d.rejected} == {"suppressed:after_churn"}
    upgraded = mobile_facts(last_upgrade_ms=NOW - 10 * DAY)
    d = ENGINE.decide(ctx(("upgrade", 0.9), ("roaming", 0.5), facts=upgraded), [], "d")
    assert chosen(d) == ["roaming_option_for_tariff"]
    long_ago = mobile_facts(last_upgrade_ms=NOW - 200 * DAY)
    assert chosen(ENGINE.decide(ctx(("upgrade", 0.9), facts=long_ago), [], "d"))[0] == (
        "upgrade_own_terms"
    )


def test_holdouts_are_sticky_and_hold_out_everything_shown() -> None:
    engine = DecisionEngine(default_policy())
    decisions = [
        engine.decide(ctx(("churn_research", 0.9), recognition=line_visitor(f"ac1_{i}")), [], "d")
        for i in range(4000)
    ]
    universal = [d for d in decisions if d.universal_holdout]
    assert 0.035 < len(universal) / len(decisions) < 0.065
    for d in universal:
        assert d.holdout and d.shown == () and len(d.chosen) == 2
        assert "holdout:universal" in d.chosen[0].reason_codes
    eligible = [d for d in decisions if not d.universal_holdout]
    held = [d for d in eligible if d.chosen[0].held_out]
    assert 0.08 < len(held) / len(eligible) < 0.12
    # sticky: the same account gets the same assignment at another time and session
    again = engine.decide(
        ctx(
            ("churn_research", 0.9),
            recognition=line_visitor(universal[0].account_id or ""),
            at_ms=NOW + DAY,
            session_id="s9",
        ),
        [],
        "d",
    )
    assert again.universal_holdout
    # the held-out decision still counts as a contact (the groups stay comparable)
    assert universal[0].contact() is not None
