"""The in-process decide use case with in-memory sources, log and sink."""

from __future__ import annotations

import re

from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.adapters.decisions.memory_sources import (
    StaticFactsSource,
    StaticIntentSource,
    StaticRecognitionSource,
)
from netcx.adapters.triggers.memory import MemoryTriggerSink
from netcx.domain.decisions.context import ActiveIntent, Consent, Recognition, RecognitionState
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.ports import SessionIntentSource
from netcx.services.decisions import DecisionService
from tests.unit.decisions.helpers import NOW, default_policy, line_visitor, mobile_facts

PZ = Pseudonymizer({"k1": b"test-key"}, "k1")


def service(
    n_accounts: int = 1, intent_source: SessionIntentSource | None = None
) -> tuple[DecisionService, MemoryDecisionLog, MemoryTriggerSink]:
    recs = {f"v{i}": line_visitor(f"ac1_{i}") for i in range(n_accounts)}
    recs["nc"] = Recognition(RecognitionState.NETWORK_LINE, consent=Consent(), account_id="ac1_x")
    intents = {v: [ActiveIntent("churn_research", 0.9, ("/cancel",))] for v in recs}
    facts = {f"ac1_{i}": mobile_facts() for i in range(n_accounts)}
    log, sink = MemoryDecisionLog(), MemoryTriggerSink()
    clock = iter(range(NOW, NOW + 10_000_000, 1000))
    svc = DecisionService(
        policy=default_policy(),
        recognition=StaticRecognitionSource(recs),
        intents=intent_source or StaticIntentSource(intents),
        facts=StaticFactsSource(facts),
        log=log,
        sink=sink,
        pseudonymizer=PZ,
        destination="cvm",
        clock_ms=lambda: next(clock),
    )
    return svc, log, sink


def test_decide_logs_and_hands_off_with_destination_pseudonyms_only() -> None:
    svc, log, sink = service(n_accounts=200)
    results = [
        svc.decide(channel="web", visitor_id=f"v{i}", session_id=f"s{i}") for i in range(200)
    ]
    assert len(log) == 200
    shown = [r for r in results if any(c.hand_off for c in r.decision.shown)]
    assert len(sink.triggers) == len(shown) > 150
    t = sink.triggers[0]
    assert t.idempotency_key == f"{t.decision_id}/cvm"
    assert t.ids.account == PZ.pseudonym(
        IdKind.ACCOUNT, shown[0].recognition.account_id or "", "cvm"
    )
    assert t.ids.account != shown[0].recognition.account_id
    assert re.fullmatch(r"ac1_[0-9a-f]{24}", t.ids.account)
    assert {e.id for e in t.experiences} <= {"retention_save_offer", "retention_follow_up"}
    # holdout members: logged as would-have, nothing sent
    held = [r for r in results if r.decision.universal_holdout]
    assert held and all(log.get(r.decision.decision_id) == r.decision for r in held)
    sent = {tr.decision_id for tr in sink.triggers}
    assert not any(r.decision.decision_id in sent for r in held)


def test_caps_use_the_logged_history_and_srm_counts_accounts() -> None:
    svc, log, _ = service(n_accounts=1)
    first = svc.decide(channel="web", visitor_id="v0", session_id="a")
    again_same_session = svc.decide(channel="web", visitor_id="v0", session_id="a")
    assert [c.experience_id for c in again_same_session.decision.chosen] == [
        c.experience_id for c in first.decision.chosen
    ]
    second_session = svc.decide(channel="web", visitor_id="v0", session_id="b")
    assert "retention_save_offer" not in [c.experience_id for c in second_session.decision.chosen]
    units = log.exposure_units()
    assert sum(n for (scope, _), n in units.items() if scope == "universal") == 1
    srm = svc.srm()
    assert srm[0].scope == "universal" and not srm[0].mismatch


def test_no_consent_is_anonymous_and_sends_nothing() -> None:
    svc, _, sink = service()
    r = svc.decide(channel="web", visitor_id="nc", session_id="s")
    assert r.recognition.state == RecognitionState.ANONYMOUS
    assert [c.experience_id for c in r.decision.chosen] == ["generic_experience"]
    assert sink.triggers == []


def test_intents_of_the_recognised_household_count() -> None:
    """The intent source is asked with the recognition: a household's intents (from another
    member's pages) reach this visitor's decision."""
    from netcx.domain.decisions.context import VisitQuery

    class HouseholdIntents:
        def active_intents(self, query: VisitQuery, recognition: Recognition) -> list[ActiveIntent]:
            if recognition.household_id == "hh1_ac1_0":
                return [ActiveIntent("fibre_availability", 0.8, ("member:/fibre",))]
            return []

    svc, _, _ = service(intent_source=HouseholdIntents())
    r = svc.decide(channel="web", visitor_id="v0", session_id="s")
    assert [c.experience_id for c in r.decision.chosen] == [
        "fibre_existing_customer_upgrade",
        "fibre_upgrade_follow_up",
    ]


def test_srm_fires_when_the_split_is_broken() -> None:
    """A log where the control group is twice its designed share (e.g. a caller that drops
    treated accounts) raises the SRM alarm; the sticky split itself does not."""
    from netcx.domain.decisions.engine import DecisionEngine
    from netcx.domain.decisions.policy import Holdouts
    from netcx.services.decisions import srm_report
    from tests.unit.decisions.helpers import ctx, default_policy

    policy = default_policy()
    fair = MemoryDecisionLog()
    broken = MemoryDecisionLog()
    doubled = policy.model_copy(
        update={"holdouts": Holdouts(salt=policy.holdouts.salt, universal_share=0.10)}
    )
    for engine, log in ((DecisionEngine(policy), fair), (DecisionEngine(doubled), broken)):
        for i in range(6000):
            c = ctx(("tariff_comparison", 0.6), recognition=line_visitor(f"ac1_{i}"))
            log.append(engine.decide(c, [], f"d{i}"))
    assert not srm_report(policy, fair.exposure_units(), 0.001)[0].mismatch
    alarm = srm_report(policy, broken.exposure_units(), 0.001)[0]
    assert alarm.scope == "universal" and alarm.mismatch and alarm.p_value < 1e-6
