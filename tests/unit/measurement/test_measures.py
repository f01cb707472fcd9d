"""The four measures on tables small enough to count by hand."""

from pathlib import Path

import pytest

from netcx.config import MeasurementSettings
from netcx.domain.measurement.intervals import share_difference
from netcx.domain.measurement.nps import NpsCounts, nps_difference
from netcx.services.report import build_report, measure_treatment_effects
from tests.unit.measurement.handmade import (
    DAY,
    PSEUDONYMIZER,
    T0,
    HandmadeWorld,
    Rows,
    designed_policy,
)


def _report(
    rows: Rows,
    tmp_path: Path,
    *,
    holdout_share: float = 0.5,
    universal_share: float = 0.0,
    **settings: object,
) -> dict:  # type: ignore[type-arg]
    """The report under a decision policy designing `holdout_share` per experience."""
    world_dir, run_dir = rows.write(tmp_path, truth={"true_nps_uplift": 5.0})
    policy = designed_policy(holdout_share, universal_share)
    return build_report(
        HandmadeWorld(world_dir),
        run_dir,
        PSEUDONYMIZER,
        {},
        MeasurementSettings(**settings),  # type: ignore[arg-type]
        policy,
    )


def _journeys() -> Rows:
    rows = Rows()
    for raw in "ABCDE":
        rows.account(raw)
    rows.outages.append(
        {"outage_id": "o1", "area_id": "ar9", "start_ms": T0, "end_ms": T0 + DAY, "eta_ms": None}
    )
    # A: anonymous churn research, then a complaint two days later, then churns on day 20.
    rows.session("s1", "A", T0, intent="churn_research")
    rows.contact("A", T0 + 2 * DAY, "complaint")
    rows.churn.append({"line_id": "LA", "account_id": "A", "churn_ms": T0 + 20 * DAY})
    # B: logged in from the first page, calls to cancel, churns without a research signal.
    rows.session("s2", "B", T0, login_ms=T0)
    rows.contact("B", T0 + DAY, "cancel")
    rows.churn.append({"line_id": "LB", "account_id": "B", "churn_ms": T0 + 5 * DAY})
    # C: complaint with no web journey at all.
    rows.contact("C", T0 + DAY, "complaint")
    # D: detractor whose only visit is older than the 14-day look-back.
    rows.session("s4", "D", T0 - 20 * DAY)
    rows.nps.append({"account_id": "D", "survey_ms": T0 + 3 * DAY, "score": 2})
    # E: researched leaving before login but stayed; the session ended in a login.
    rows.session("s5", "E", T0 + DAY, login_ms=T0 + DAY + 60_000, intent="churn_research")
    return rows


def test_negative_experiences_stitched_to_anonymous_first_touch(tmp_path: Path) -> None:
    neg = _report(_journeys(), tmp_path)["measures"]["negative_experiences_before_login_share"]
    # Events: A complaint (pre-login), A abandoned churn research (pre-login), B cancel (logged
    # in from the start), C complaint (no journey), D detractor (journey too old); E's research
    # ended in a login, so it is not abandoned.
    assert neg["experiences_total"] == 5
    assert neg["with_digital_journey"]["value"] == pytest.approx(3 / 5)
    assert (neg["value"], neg["n"]) == (pytest.approx(2 / 3), 3)
    # B logged in before calling; A never logged in before either of its experiences.
    assert neg["journey_without_login"]["value"] == pytest.approx(2 / 3)
    low, high = neg["ci95"]
    assert low < 2 / 3 < high
    kinds = {r["kind"]: (r["value"], r["n"]) for r in neg["by_kind"]}
    assert kinds == {
        "abandoned_high_intent": (1.0, 1),
        "cancel_contact": (0.0, 1),
        "complaint_contact": (1.0, 1),
    }
    by_intent = {r["intent"]: r["n"] for r in neg["by_intent"]}
    assert by_intent == {"churn_research": 2, "none": 1}


def test_churners_research_signal_lift_and_lead_time(tmp_path: Path) -> None:
    sig = _report(_journeys(), tmp_path)["measures"]["churners_with_early_research_signal_share"]
    assert (sig["value"], sig["n"]) == (0.5, 2)  # A yes, B no
    assert sig["base_rate_non_churners"]["value"] == pytest.approx(1 / 3)  # E of C, D, E
    assert sig["lift"]["value"] == pytest.approx(1.5)
    # A's first signal is 10 s into s1; churn 20 days after the session start.
    assert sig["lead_time_days_median"] == pytest.approx(20 - 10 / 86_400)
    assert sig["lead_time"]["share_at_least_days"]["14"]["value"] == 1.0
    assert sig["lead_time_histogram"] == [{"day": 19, "churners": 1}]


def _experiment() -> Rows:
    rows = Rows()
    treated_scores = [10, 10, 9, 8, 3]
    holdout_scores = [10, 7, 5, 3, 2]
    for i, score in enumerate(treated_scores + holdout_scores):
        raw = f"X{i}"
        holdout = i >= len(treated_scores)
        rows.account(raw)
        rows.session(f"x{i}", raw, T0 + i * DAY, intent="upgrade")
        rows.decision(f"x{i}", raw, T0 + i * DAY + 1000, holdout=holdout)
        # An answer before the first decision is a pre-period covariate, not an outcome.
        rows.nps.append({"account_id": raw, "survey_ms": T0 - DAY, "score": 0})
        rows.nps.append({"account_id": raw, "survey_ms": T0 + (i + 2) * DAY, "score": score})
        rows.nps.append({"account_id": raw, "survey_ms": T0 + (i + 9) * DAY, "score": 0})
    for raw in ("X0", "X5", "X6"):  # churn: 1 of 5 treated, 2 of 5 holdout
        rows.churn.append({"line_id": f"L{raw}", "account_id": raw, "churn_ms": T0 + 30 * DAY})
    rows.churn.append({"line_id": "LX1", "account_id": "X1", "churn_ms": T0 - DAY})  # before
    rows.contact("X5", T0 + 6 * DAY, "billing", repeat=True, asked=True)
    rows.contact("X5", T0 + 7 * DAY, "billing", repeat=True)
    rows.contact("X0", T0 + 2 * DAY, "billing", asked=True)
    return rows


def test_treated_vs_holdout_uses_first_answer_after_first_decision(tmp_path: Path) -> None:
    m = _report(_experiment(), tmp_path, holdout_share=0.5)["measures"]
    expected = nps_difference(NpsCounts(3, 1, 1), NpsCounts(1, 1, 3))
    nps = m["nps_uplift"]
    assert nps["value"] == pytest.approx(40.0 - (-40.0))
    assert nps["ci95"] == pytest.approx([expected.low, expected.high])
    assert (nps["n_treated"], nps["n_control"]) == (5, 5)
    assert nps["true_effect"] == 5.0
    assert "configured" in nps["true_effect_definition"]
    assert "respondents" in nps["estimand"] and "first survey answer" in nps["estimand"]
    assert "Not significant" in nps["verdict"] and "MDE" in nps["verdict"]
    churn = m["churn_difference"]
    reference = share_difference(1, 5, 2, 5)
    assert churn["value"] == pytest.approx(-0.2)
    assert churn["ci95"] == pytest.approx([reference.low, reference.high])
    assert m["experiment"]["srm"]["observed"] == [5, 5]
    assert not m["experiment"]["srm"]["mismatch"]
    cuped = m["nps_uplift"]["cuped"]
    assert {"pre_nps_contribution", "pre_care_contacts", "tenure_days"} <= set(cuped["covariates"])
    assert 0.0 <= cuped["variance_reduction"] < 1.0
    assert cuped["unadjusted"]["value"] == pytest.approx(80.0)
    (only,) = nps["by_experience"]
    assert only["experience"] == "exp" and only["p_value_holm"] == pytest.approx(only["p_value"])


def test_friction_per_account(tmp_path: Path) -> None:
    fr = _report(_experiment(), tmp_path, holdout_share=0.5)["measures"]["friction"]
    assert fr["repeat_contact_rate_treated"] == 0.0
    assert fr["repeat_contact_rate_holdout"] == pytest.approx(1 / 5)
    metrics = {m["metric"]: m for m in fr["metrics"]}
    assert metrics["asked_again"]["treated"]["value"] == pytest.approx(1 / 5)
    assert metrics["asked_again"]["holdout"]["value"] == pytest.approx(1 / 5)
    steps = metrics["contacts_to_resolution"]
    assert steps["treated"]["value"] == pytest.approx(1 / 5)
    assert steps["holdout"]["value"] == pytest.approx(2 / 5)
    # X5's contacts come 1 and 2 days after its decision, X0's one day after: both switched.
    assert metrics["channel_switch"]["treated"]["value"] == pytest.approx(1 / 5)
    assert metrics["channel_switch"]["holdout"]["value"] == pytest.approx(1 / 5)


def test_srm_flags_a_broken_split(tmp_path: Path) -> None:
    m = _report(_experiment(), tmp_path, holdout_share=0.01)["measures"]
    assert m["experiment"]["srm"]["mismatch"]
    assert "do not trust" in m["experiment"]["srm_verdict"]


def test_the_designed_shares_come_from_the_decision_policy(tmp_path: Path) -> None:
    report = _report(_experiment(), tmp_path, holdout_share=0.3, universal_share=0.02)
    assert report["holdout_design"]["universal_share"] == 0.02
    assert report["holdout_design"]["experience_shares"]["exp"] == 0.3
    srm = report["measures"]["experiment"]["srm"]
    assert srm["expected_shares"] == pytest.approx([0.7, 0.3])  # no universal group: exp's own
    # A policy that holds nobody out designs no split: no check rather than a made-up one.
    m = _report(_experiment(), tmp_path / "none", holdout_share=0.0)["measures"]
    assert m["experiment"]["srm"] is None
    assert "no sample-ratio check" in m["experiment"]["srm_verdict"]
    assert m["nps_uplift"]["by_experience"][0]["srm"] is None


def test_universal_control_group_is_the_overall_holdout(tmp_path: Path) -> None:
    rows = _experiment()
    for d in rows.decisions[5:7]:
        d["reason"] = "holdout:universal"
    m = _report(rows, tmp_path, universal_share=0.2, holdout_share=0.4)["measures"]
    assert m["experiment"]["definition"].startswith("universal control group")
    assert (m["experiment"]["treated_accounts"], m["experiment"]["holdout_accounts"]) == (8, 2)
    # Per experience, the universal group is left out: 5 treated vs 3 experience holdouts.
    (only,) = m["nps_uplift"]["by_experience"]
    assert (only["n_treated"], only["n_control"]) == (5, 3)
    assert only["srm"]["observed"] == [5, 3] and only["srm"]["expected_shares"] == [0.6, 0.4]


def test_only_actionable_high_intent_decisions_make_units(tmp_path: Path) -> None:
    rows = _experiment()
    rows.account("N1")
    rows.session("n1", "N1", T0, intent="roaming")
    rows.decision("n1", "N1", T0 + 1000, holdout=False, experience="roaming_tips")
    rows.decisions[-1]["intent"] = "roaming"  # shown, but not a high-intent journey
    rows.account("N2")
    rows.session("n2", "N2", T0, intent="upgrade")
    rows.decision("n2", "N2", T0 + 1000, holdout=False)  # nothing was eligible
    rows.decisions[-1].update(shown=False, experience="none", reason="no_eligible_experience")
    m = _report(rows, tmp_path, holdout_share=0.5)["measures"]
    assert (m["experiment"]["treated_accounts"], m["experiment"]["holdout_accounts"]) == (5, 5)
    # The roaming experience is still measured on its own; "none" is not an experience.
    assert {r["experience"] for r in m["nps_uplift"]["by_experience"]} == {"exp", "roaming_tips"}


def test_treatment_effects_alone_are_the_reports_treated_vs_holdout_measures(
    tmp_path: Path,
) -> None:
    rows = _experiment()
    world_dir, run_dir = rows.write(tmp_path, truth={"true_nps_uplift": 5.0})
    world, policy = HandmadeWorld(world_dir), designed_policy(0.5)
    settings = MeasurementSettings()
    report = build_report(world, run_dir, PSEUDONYMIZER, {}, settings, policy)["measures"]
    alone = measure_treatment_effects(world, run_dir, PSEUDONYMIZER, settings, policy)
    assert alone.keys() == {"nps_uplift", "churn_difference", "upgrade_difference", "experiment"}
    assert alone == {key: report[key] for key in alone}
