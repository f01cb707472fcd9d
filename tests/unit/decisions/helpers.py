"""Shared builders for the decisions unit tests."""

from __future__ import annotations

from netcx.domain.decisions.context import (
    ActiveIntent,
    Consent,
    CustomerFacts,
    DecisionContext,
    Outage,
    Recognition,
    RecognitionState,
)
from netcx.domain.decisions.policy import Holdouts, Policy
from netcx.services.decisions import load_policy_file

DAY = 86_400_000
NOW = 1_780_000_000_000  # 2026-05-28


def default_policy() -> Policy:
    return load_policy_file(None)


def without_holdouts(policy: Policy) -> Policy:
    """The same policy with every holdout share at zero (scenario tests)."""
    return policy.model_copy(
        update={
            "holdouts": Holdouts(salt=policy.holdouts.salt, universal_share=0.0),
            "experiences": tuple(
                e.model_copy(update={"holdout_share": 0.0}) for e in policy.experiences
            ),
        }
    )


def line_visitor(
    account: str = "ac1_a",
    state: RecognitionState = RecognitionState.NETWORK_LINE,
    personalisation: bool = True,
) -> Recognition:
    return Recognition(
        state=state,
        level="line",
        confidence=0.97,
        reason="port_block",
        consent=Consent(analytics=True, personalisation=personalisation, marketing=False),
        line_id=f"ln1_{account}",
        subscriber_id=f"sb1_{account}",
        household_id=f"hh1_{account}",
        account_id=account,
    )


def household_visitor(account: str = "ac1_h") -> Recognition:
    return Recognition(
        state=RecognitionState.NETWORK_HOUSEHOLD,
        level="household",
        confidence=0.8,
        reason="ipv6_pd",
        consent=Consent(personalisation=True),
        household_id=f"hh1_{account}",
        account_id=account,
    )


def mobile_facts(**kw: object) -> CustomerFacts:
    base: dict[str, object] = {
        "tariff": "mobile_basic",
        "device_model": "Pixel 7",
        "line_kind": "mobile",
        "area_id": "A1",
        "customer_since_ms": NOW - 4 * 365 * DAY,
        "contract_end_ms": NOW + 30 * DAY,
    }
    base.update(kw)
    return CustomerFacts(**base)  # type: ignore[arg-type]


def outage(area: str = "A1") -> Outage:
    return Outage("o1", area, NOW - 3_600_000, NOW + 7_200_000, NOW + 5_400_000)


def ctx(
    *intents: tuple[str, float],
    recognition: Recognition | None = None,
    facts: CustomerFacts | None = None,
    at_ms: int = NOW,
    channel: str = "web",
    session_id: str = "s1",
) -> DecisionContext:
    return DecisionContext(
        at_ms=at_ms,
        channel=channel,
        recognition=recognition if recognition is not None else line_visitor(),
        intents=tuple(ActiveIntent(n, s, (f"/{n}",), at_ms - 1000) for n, s in intents),
        facts=facts if facts is not None else mobile_facts(),
        session_id=session_id,
        visitor_id="vi1_v",
    )
