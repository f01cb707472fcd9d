"""The four CX measures, computed from a run's tables (see docs/measurement.md for definitions).

1. negative experiences whose journey started anonymously, before login;
2. churners with an early (pre-login) research signal, against non-churners, and lead times;
3. treated vs holdout: NPS, churn and upgrade differences with CUPED, SRM and Holm;
4. friction: repeat contacts, information asked again, contacts needed, channel switches.

Every frame carries internal pseudonyms in `account_id`; the report service converts the
world's raw ids before calling in here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from netcx.config import MeasurementSettings
from netcx.domain.decisions.policy import Policy
from netcx.domain.measurement.cuped import cuped_difference
from netcx.domain.measurement.intervals import (
    Comparison,
    Interval,
    mean_difference,
    share_ci,
    share_difference,
    share_ratio,
)
from netcx.domain.measurement.lead_time import summarise_lead_times
from netcx.domain.measurement.multiplicity import holm_adjust
from netcx.domain.measurement.nps import (
    nps_contribution,
    nps_counts,
    nps_difference,
)
from netcx.domain.measurement.power import minimum_detectable_difference
from netcx.domain.measurement.srm import SrmCheck, sample_ratio_check
from netcx.domain.measurement.verdicts import describe_difference

DAY_MS = 86_400_000
AUTHENTICATED = "authenticated"
UNIVERSAL_MARK = "universal"  # decision reasons of the universal control group say so
TREATED, HOLDOUT = "treated", "holdout"
NPS_ESTIMAND = (
    "the average effect of netcx's support on the NPS of the experiment's respondents: each unit "
    "account's first survey answer after its first decision, treated minus holdout"
)
NPS_TRUE_EFFECT_DEFINITION = (
    "configured in the simulated world: the expected NPS points a supported survey answer gains; "
    "the realised effect on this run's respondents scatters around it by chance"
)


@dataclass(frozen=True)
class RunData:
    """A run's tables as pandas frames (columns of `netcx.tables`), ids already internal."""

    resolved: pd.DataFrame  # RESOLVED_HITS
    sessions: pd.DataFrame  # SESSION_IDENTITY
    intents: pd.DataFrame  # SESSION_INTENTS
    decisions: pd.DataFrame  # DECISIONS
    churn: pd.DataFrame  # CHURN (under netcx's decisions)
    upgrades: pd.DataFrame  # UPGRADES
    nps: pd.DataFrame  # NPS
    contacts: pd.DataFrame  # CARE_CONTACTS
    accounts: pd.DataFrame  # ACCOUNTS (the whole customer base)
    lines: pd.DataFrame  # LINES
    outages: pd.DataFrame  # OUTAGES


def session_top_intent(intents: pd.DataFrame) -> pd.DataFrame:
    """One row per session: its highest-scoring intent other than 'none' (or 'none')."""
    real = intents[intents["intent"] != "none"].sort_values("score", ascending=False)
    return real.drop_duplicates("session_id")[["session_id", "intent"]]


def _sessions_with_intent(data: RunData) -> pd.DataFrame:
    top = session_top_intent(data.intents)
    merged = data.sessions.merge(top, on="session_id", how="left")
    merged["intent"] = merged["intent"].fillna("none")
    return merged


def _started_before_login(sessions: pd.DataFrame) -> pd.Series:
    """A session whose first touch was anonymous: no login, or the login came later."""
    return sessions["login_ms"].isna() | (sessions["login_ms"] > sessions["start_ms"])


def _interval_rows(frame: pd.DataFrame, by: str, flag: str) -> list[dict[str, Any]]:
    rows = []
    for key, group in frame.groupby(by, sort=True):
        ci = share_ci(int(group[flag].sum()), len(group))
        rows.append({by: str(key), **ci.as_dict()})
    return rows


# ------------------------------------------------------------------ 1. negative experiences


def negative_experiences(data: RunData, settings: MeasurementSettings) -> dict[str, Any]:
    """Share of negative experiences whose stitched journey began before login."""
    events = _negative_events(data, settings)
    sessions = _sessions_with_intent(data)
    sessions = sessions[sessions["account_id"].notna()]
    lookback_ms = settings.lookback_days * DAY_MS
    stitched = events.merge(
        sessions[["account_id", "session_id", "start_ms", "login_ms", "channel", "intent"]],
        on="account_id",
        how="inner",
    )
    stitched = stitched[
        (stitched["start_ms"] <= stitched["at_ms"])
        & (stitched["start_ms"] >= stitched["at_ms"] - lookback_ms)
    ]
    first = stitched.sort_values("start_ms").drop_duplicates("event_id")
    first = first.assign(pre_login=_started_before_login(first))
    share = share_ci(int(first["pre_login"].sum()), len(first))
    # Stricter: no login anywhere in the journey before the experience — a journey only
    # network identity could see.
    logged_in = stitched["login_ms"].notna() & (stitched["login_ms"] <= stitched["at_ms"])
    events_with_login = stitched.loc[logged_in, "event_id"].nunique()
    return {
        **share.as_dict(),
        "experiences_total": len(events),
        "with_digital_journey": share_ci(len(first), len(events)).as_dict(),
        "journey_without_login": share_ci(len(first) - events_with_login, len(first)).as_dict(),
        "lookback_days": settings.lookback_days,
        "by_kind": _interval_rows(first, "kind", "pre_login"),
        "by_intent": _interval_rows(first, "intent", "pre_login"),
        "by_channel": _interval_rows(first, "channel", "pre_login"),
    }


def _negative_events(data: RunData, settings: MeasurementSettings) -> pd.DataFrame:
    """One row per negative experience: event_id, account_id, at_ms, kind."""
    contacts = data.contacts
    negative_reason = contacts["reason"].isin(settings.negative_contact_reasons)
    bad_contacts = contacts[negative_reason | contacts["repeat_within_7d"].fillna(False)]
    frames = [
        pd.DataFrame(
            {
                "event_id": "contact:" + bad_contacts["contact_id"].astype(str),
                "account_id": bad_contacts["account_id"],
                "at_ms": bad_contacts["ts_ms"],
                "kind": np.where(
                    bad_contacts["reason"].isin(settings.negative_contact_reasons),
                    bad_contacts["reason"] + "_contact",
                    "repeat_contact",
                ),
            }
        )
    ]
    exposed = (
        data.lines[["account_id", "area_id"]]
        .drop_duplicates()
        .merge(data.outages[["outage_id", "area_id", "start_ms"]], on="area_id")
    )
    frames.append(
        pd.DataFrame(
            {
                "event_id": "outage:" + exposed["outage_id"] + ":" + exposed["account_id"],
                "account_id": exposed["account_id"],
                "at_ms": exposed["start_ms"],
                "kind": "outage_exposure",
            }
        )
    )
    detractors = data.nps[data.nps["score"] <= 6].reset_index(drop=True)
    frames.append(
        pd.DataFrame(
            {
                "event_id": "nps:" + detractors.index.astype(str),
                "account_id": detractors["account_id"],
                "at_ms": detractors["survey_ms"],
                "kind": "nps_detractor",
            }
        )
    )
    abandoned = _abandoned_high_intent_sessions(data, settings)
    frames.append(
        pd.DataFrame(
            {
                "event_id": "session:" + abandoned["session_id"],
                "account_id": abandoned["account_id"],
                "at_ms": abandoned["end_ms"],
                "kind": "abandoned_high_intent",
            }
        )
    )
    events = pd.concat([f for f in frames if len(f)], ignore_index=True)
    if events.empty:
        return pd.DataFrame(columns=["event_id", "account_id", "at_ms", "kind"])
    return events[events["account_id"].notna()]


def _abandoned_high_intent_sessions(data: RunData, settings: MeasurementSettings) -> pd.DataFrame:
    """High-intent sessions that ended without login and without an upgrade within 7 days."""
    sessions = _sessions_with_intent(data)
    candidates = sessions[
        sessions["intent"].isin(settings.high_intents)
        & sessions["login_ms"].isna()
        & sessions["account_id"].notna()
    ]
    upgraded = candidates.merge(data.upgrades[["account_id", "upgrade_ms"]], on="account_id")
    upgraded = upgraded[
        (upgraded["upgrade_ms"] >= upgraded["start_ms"])
        & (upgraded["upgrade_ms"] <= upgraded["end_ms"] + 7 * DAY_MS)
    ]
    return candidates[~candidates["session_id"].isin(upgraded["session_id"])]


# ------------------------------------------------------------------ 2. early research signals


def early_research_signals(data: RunData, settings: MeasurementSettings) -> dict[str, Any]:
    """Churners with a pre-login research signal before churning vs non-churners; lead times."""
    sessions = data.sessions[data.sessions["account_id"].notna()]
    research = data.intents[data.intents["intent"].isin(settings.research_intents)]
    signals = research.merge(
        sessions[["session_id", "account_id", "login_ms"]], on="session_id", how="inner"
    )
    signal_ms = signals["first_signal_ms"].fillna(signals["emerged_ms"])
    signals = signals.assign(signal_ms=signal_ms)
    signals = signals[
        signals["signal_ms"].notna()
        & (signals["login_ms"].isna() | (signals["signal_ms"] < signals["login_ms"]))
    ]
    churn_ms = data.churn.groupby("account_id")["churn_ms"].min()
    population = pd.Index(data.accounts["account_id"].unique())
    churners = population.intersection(churn_ms.index)
    non_churners = population.difference(churn_ms.index)

    joined = signals.merge(churn_ms.reset_index(), on="account_id")
    before = joined[joined["signal_ms"] < joined["churn_ms"]]
    earliest = before.groupby("account_id").agg(
        signal_ms=("signal_ms", "min"), churn_ms=("churn_ms", "first")
    )
    earliest = earliest[earliest.index.isin(churners)]
    lead_days = ((earliest["churn_ms"] - earliest["signal_ms"]) / DAY_MS).astype(float).tolist()
    non_churners_with_signal = int(
        signals.loc[signals["account_id"].isin(non_churners), "account_id"].nunique()
    )

    share = share_ci(len(earliest), len(churners))
    base = share_ci(non_churners_with_signal, len(non_churners))
    lift = share_ratio(len(earliest), len(churners), non_churners_with_signal, len(non_churners))
    lead = summarise_lead_times(lead_days)
    return {
        **share.as_dict(),
        "lead_time_days_median": lead.median_days,
        "base_rate_non_churners": base.as_dict(),
        "lift": lift.as_dict(),
        "lead_time": lead.as_dict(),
        "lead_time_histogram": _day_histogram(lead_days),
        "research_intents": list(settings.research_intents),
    }


def _day_histogram(days: list[float]) -> list[dict[str, int]]:
    counts: dict[int, int] = {}
    for d in days:
        day = math.floor(d)
        counts[day] = counts.get(day, 0) + 1
    return [{"day": d, "churners": counts[d]} for d in sorted(counts)]


# ------------------------------------------------------------------ arms (holdout by account)


@dataclass(frozen=True)
class HoldoutDesign:
    """The designed holdout shares, as the decision policy that made the decisions says."""

    universal_share: float
    experience_shares: Mapping[str, float]

    @classmethod
    def of(cls, policy: Policy) -> HoldoutDesign:
        return cls(
            policy.holdouts.universal_share,
            {e.id: e.holdout_share for e in policy.experiences},
        )

    def shared_by(self, experiences: pd.Series) -> float:
        """The overall holdout share when the experiences' own holdouts are the arms: the mean
        designed share of those in `experiences` that hold out; if the policy names none of
        them, the universal share (the same sticky account draw)."""
        shares = [self.experience_shares.get(str(e), 0.0) for e in experiences.dropna().unique()]
        held = [x for x in shares if x > 0]
        return sum(held) / len(held) if held else self.universal_share


@dataclass(frozen=True)
class Arms:
    """Experiment units: one row per account with arm and first decision time."""

    units: pd.DataFrame  # account_id, arm, first_ms
    excluded_inconsistent: int
    expected_holdout_share: float
    experience_holdout_shares: Mapping[str, float]
    """Designed holdout share of each experience (for the per-experience SRM check)."""
    definition: str


def _actionable(decisions: pd.DataFrame) -> pd.DataFrame:
    """Decisions where netcx acted or would have (shown, or held out); 'nothing eligible'
    decisions do not make an account part of the experiment."""
    acted = decisions["shown"].fillna(False).astype(bool) | decisions["holdout"].fillna(
        False
    ).astype(bool)
    return decisions[decisions["account_id"].notna() & acted]


def overall_arms(
    decisions: pd.DataFrame, settings: MeasurementSettings, design: HoldoutDesign
) -> Arms:
    """Accounts with an actionable decision on a high-intent journey: treated vs holdout.

    With a universal control group (decision reasons mark it), the holdout is that group and
    everyone else is treated. Without one, each account's sticky holdout flag is its arm;
    accounts whose decisions disagree are excluded and counted. An account's clock starts at
    its first such decision. The designed shares come from the decision policy (`design`).
    """
    decided = _actionable(decisions)
    decided = decided[decided["intent"].isin(settings.high_intents)]
    first_ms = decided.groupby("account_id")["ts_ms"].min().rename("first_ms")
    universal = decided["holdout"].astype(bool) & decided["reason"].fillna("").str.contains(
        UNIVERSAL_MARK
    )
    if universal.any():
        in_control = decided[universal]["account_id"].unique()
        arm = pd.Series(
            np.where(first_ms.index.isin(in_control), HOLDOUT, TREATED), index=first_ms.index
        )
        units = pd.DataFrame({"arm": arm, "first_ms": first_ms}).reset_index()
        units = units.merge(_first_intent(decided), on="account_id")
        return Arms(
            units,
            0,
            design.universal_share,
            design.experience_shares,
            "universal control group (no netcx experience at all) vs all other accounts with a "
            "high-intent decision",
        )
    units, excluded = _arms_by_flag(decided)
    # Without a universal group, each experience's holdout is the same sticky account draw.
    return Arms(
        units,
        excluded,
        design.shared_by(decided["experience"]),
        design.experience_shares,
        "sticky per-account holdout flag of the high-intent decisions",
    )


def _arms_by_flag(decided: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    flags = decided.groupby("account_id").agg(
        holdout_any=("holdout", "max"), holdout_all=("holdout", "min"), first_ms=("ts_ms", "min")
    )
    consistent = flags[flags["holdout_any"] == flags["holdout_all"]]
    units = pd.DataFrame(
        {
            "account_id": consistent.index,
            "arm": np.where(consistent["holdout_all"].astype(bool), HOLDOUT, TREATED),
            "first_ms": consistent["first_ms"].to_numpy(),
        }
    )
    return units.merge(_first_intent(decided), on="account_id"), len(flags) - len(consistent)


def _first_intent(decided: pd.DataFrame) -> pd.DataFrame:
    """The intent of each account's first decision: known at assignment, so a fair covariate."""
    first = decided.sort_values(["ts_ms", "decision_id"]).drop_duplicates("account_id")
    return first[["account_id", "intent"]].rename(columns={"intent": "first_intent"})


def experience_arms(decisions: pd.DataFrame, exclude: pd.Index) -> dict[str, pd.DataFrame]:
    """Per experience: accounts with an actionable decision for it, split by its holdout flag."""
    decided = _actionable(decisions)
    decided = decided[~decided["account_id"].isin(exclude)]
    return {
        str(exp): _arms_by_flag(group)[0] for exp, group in decided.groupby("experience", sort=True)
    }


# ------------------------------------------------------------------ 3. treated vs holdout


def _after_first(units: pd.DataFrame, events: pd.DataFrame, ts: str) -> pd.DataFrame:
    joined = events.merge(units, on="account_id")
    return joined[joined[ts] >= joined["first_ms"]]


def _first_nps(units: pd.DataFrame, nps: pd.DataFrame) -> pd.DataFrame:
    """Each unit's first survey answer after its first decision (one answer per account)."""
    after = _after_first(units, nps, "survey_ms").sort_values("survey_ms")
    return after.drop_duplicates("account_id")


def _flag(units: pd.DataFrame, accounts: pd.Series) -> pd.Series:
    return units["account_id"].isin(accounts)


def _share_comparison(units: pd.DataFrame, flag: pd.Series) -> Comparison:
    treated = units["arm"] == TREATED
    return share_difference(
        int(flag[treated].sum()),
        int(treated.sum()),
        int(flag[~treated].sum()),
        int((~treated).sum()),
    )


def _share_mde(flag: pd.Series, comparison: Comparison) -> float:
    p = float(flag.mean()) if len(flag) else math.nan
    sd = math.sqrt(p * (1 - p)) if math.isfinite(p) else math.nan
    return minimum_detectable_difference(sd, comparison.n_treated, comparison.n_control)


def _nps_comparison(answers: pd.DataFrame) -> tuple[Comparison, float]:
    """NPS difference and its MDE over the units' first answers (`_first_nps`)."""
    treated = answers[answers["arm"] == TREATED]["score"].astype(int).tolist()
    control = answers[answers["arm"] == HOLDOUT]["score"].astype(int).tolist()
    diff = nps_difference(nps_counts(treated), nps_counts(control))
    contributions = [nps_contribution(s) for s in treated + control]
    sd = float(np.std(contributions)) if contributions else math.nan
    return diff, minimum_detectable_difference(sd, len(treated), len(control))


def treatment_effects(data: RunData, arms: Arms, truth: dict[str, float]) -> dict[str, Any]:
    """NPS uplift, churn and upgrade differences treated vs holdout, per experience with Holm."""
    units = arms.units
    n_holdout = int((units["arm"] == HOLDOUT).sum())
    srm = _srm_check(len(units) - n_holdout, n_holdout, arms.expected_holdout_share)
    answers = _first_nps(units, data.nps)
    nps, nps_mde = _nps_comparison(answers)
    churned = _flag(units, _after_first(units, data.churn, "churn_ms")["account_id"])
    churn = _share_comparison(units, churned)
    upgraded = _flag(units, _after_first(units, data.upgrades, "upgrade_ms")["account_id"])
    upgrade = _share_comparison(units, upgraded)
    treated_mask = units["arm"] == TREATED
    churn_ratio = share_ratio(
        int(churned[treated_mask].sum()),
        int(treated_mask.sum()),
        int(churned[~treated_mask].sum()),
        int((~treated_mask).sum()),
    )
    churn_mde = _share_mde(churned, churn)
    nps_block: dict[str, Any] = {
        **nps.as_dict(),
        "unit": "NPS points",
        "method": "adjusted Wald (Rocks 2016), one answer per account after its first decision",
        "estimand": NPS_ESTIMAND,
        "mde": nps_mde,
        "verdict": describe_difference("NPS uplift", nps, nps_mde, "points"),
        "cuped": _nps_cuped(answers, data),
        "by_experience": [],
    }
    if "true_nps_uplift" in truth:
        nps_block["true_effect"] = truth["true_nps_uplift"]
        nps_block["true_effect_definition"] = NPS_TRUE_EFFECT_DEFINITION
        nps_block["covers_true_effect"] = nps.covers(truth["true_nps_uplift"])
    churn_block: dict[str, Any] = {
        **churn.as_dict(),
        "unit": "share of accounts",
        "method": "Newcombe hybrid score interval",
        "mde": churn_mde,
        "verdict": describe_difference("Churn rate", churn, churn_mde, "pp"),
        "relative_change": {
            "value": churn_ratio.value - 1,
            "ci95": [churn_ratio.low - 1, churn_ratio.high - 1],
        },
        "by_experience": [],
    }
    if "true_churn_relative_change" in truth:
        churn_block["true_relative_change"] = truth["true_churn_relative_change"]
    upgrade_mde = _share_mde(upgraded, upgrade)
    upgrade_block = {
        **upgrade.as_dict(),
        "unit": "share of accounts",
        "method": "Newcombe hybrid score interval",
        "mde": upgrade_mde,
        "verdict": describe_difference("Upgrade rate", upgrade, upgrade_mde, "pp"),
    }
    excluded = (
        units[units["arm"] == HOLDOUT]["account_id"]
        if arms.definition.startswith("universal")
        else pd.Series([], dtype=object)
    )
    _by_experience(data, pd.Index(excluded), arms, nps_block, churn_block)
    experiment = {
        "units": "billing accounts with a decision to act (shown or held out) on a high-intent "
        "journey",
        "definition": arms.definition,
        "treated_accounts": len(units) - n_holdout,
        "holdout_accounts": n_holdout,
        "excluded_inconsistent_accounts": arms.excluded_inconsistent,
        "srm": srm.as_dict() if srm else None,
        "srm_verdict": (
            "No holdout in the decision policy's design: no sample-ratio check."
            if srm is None
            else f"Sample-ratio mismatch (p = {srm.p_value:.2g}): the split differs from the "
            f"design ({arms.expected_holdout_share:.0%} holdout); do not trust these comparisons "
            "until the assignment is fixed."
            if srm.mismatch
            else f"Split matches the design ({arms.expected_holdout_share:.0%} holdout; "
            f"p = {srm.p_value:.2g})."
        ),
    }
    return {
        "nps_uplift": nps_block,
        "churn_difference": churn_block,
        "upgrade_difference": upgrade_block,
        "experiment": experiment,
    }


def _nps_cuped(answers: pd.DataFrame, data: RunData) -> dict[str, Any]:
    """CUPED on the NPS contribution of the units' first answers (`_first_nps`: the same sample
    as the plain NPS difference) with covariates measured before each first decision."""
    if len(answers) < 3:
        return {"covariates": [], "variance_reduction": math.nan}
    covariates = _pre_period_covariates(answers[["account_id", "first_ms", "first_intent"]], data)
    y = [nps_contribution(int(s)) for s in answers["score"]]
    result = cuped_difference(
        y, covariates.to_numpy(dtype=float).tolist(), (answers["arm"] == TREATED).tolist()
    )
    return {"covariates": list(covariates.columns), **result.as_dict()}


def _pre_period_covariates(units: pd.DataFrame, data: RunData) -> pd.DataFrame:
    """Per unit: what was known at or before its first decision (treatment cannot affect it):
    the last earlier survey answer, earlier care contacts, lines, spend, tenure, and the
    intent netcx acted on (one indicator per intent)."""
    units = units.reset_index(drop=True)
    before_nps = data.nps.merge(units, on="account_id")
    before_nps = before_nps[before_nps["survey_ms"] < before_nps["first_ms"]].sort_values(
        "survey_ms"
    )
    last_nps = before_nps.drop_duplicates("account_id", keep="last").set_index("account_id")
    before_contacts = data.contacts.merge(units, on="account_id")
    before_contacts = before_contacts[before_contacts["ts_ms"] < before_contacts["first_ms"]]
    contact_counts = before_contacts.groupby("account_id").size()
    lines = data.lines.groupby("account_id").agg(
        lines=("line_id", "size"),
        monthly_charge=("monthly_charge_eur", "sum"),
        contract_start=("contract_start_ms", "min"),
    )
    keyed = units.set_index("account_id")
    pre_score = last_nps["score"].reindex(keyed.index)
    lines = lines.reindex(keyed.index)
    intents = pd.get_dummies(keyed["first_intent"].fillna("none"), prefix="intent", dtype=float)
    measured = pd.DataFrame(
        {
            "pre_nps_contribution": [
                nps_contribution(int(s)) if pd.notna(s) else 0.0 for s in pre_score
            ],
            "pre_nps_answered": pre_score.notna().astype(float).to_numpy(),
            "pre_care_contacts": contact_counts.reindex(keyed.index).fillna(0).to_numpy(),
            "lines": lines["lines"].fillna(0).to_numpy(),
            "monthly_charge_eur": lines["monthly_charge"].fillna(0).to_numpy(),
            "tenure_days": (
                (keyed["first_ms"] - lines["contract_start"]).fillna(0) / DAY_MS
            ).to_numpy(),
        }
    )
    return pd.concat([measured, intents.reset_index(drop=True)], axis=1)


def _srm_check(treated: int, held: int, share: float) -> SrmCheck | None:
    """Observed split against the designed share; None when the design holds nobody out."""
    return sample_ratio_check([treated, held], [1 - share, share]) if 0 < share < 1 else None


def _by_experience(
    data: RunData,
    exclude: pd.Index,
    arms: Arms,
    nps_block: dict[str, Any],
    churn_block: dict[str, Any],
) -> None:
    per_exp = experience_arms(data.decisions, exclude)
    nps_rows: list[tuple[str, Comparison, float]] = []
    churn_rows: list[tuple[str, Comparison, float]] = []
    srm: dict[str, dict[str, object] | None] = {}
    for exp, units in per_exp.items():
        held = int((units["arm"] == HOLDOUT).sum())
        # An experience the policy does not name: its designed share is the overall one.
        share = arms.experience_holdout_shares.get(exp, arms.expected_holdout_share)
        check = _srm_check(len(units) - held, held, share)
        srm[exp] = check.as_dict() if check else None
        diff, mde = _nps_comparison(_first_nps(units, data.nps))
        nps_rows.append((exp, diff, mde))
        churned = _flag(units, _after_first(units, data.churn, "churn_ms")["account_id"])
        churn = _share_comparison(units, churned)
        churn_rows.append((exp, churn, _share_mde(churned, churn)))
    for rows, block, unit, label in (
        (nps_rows, nps_block, "points", "NPS uplift"),
        (churn_rows, churn_block, "pp", "Churn rate"),
    ):
        adjusted = holm_adjust([c.p_value for _, c, _ in rows])
        block["by_experience"] = [
            {
                "experience": exp,
                **c.as_dict(),
                "p_value_holm": p_holm,
                "mde": mde,
                "srm": srm[exp],
                "verdict": describe_difference(
                    f"{label}, {exp}",
                    c,
                    mde,
                    unit,
                    adjusted_p=None if math.isnan(p_holm) else p_holm,
                ),
            }
            for (exp, c, mde), p_holm in zip(rows, adjusted, strict=True)
        ]


# ------------------------------------------------------------------ 4. friction


def friction(data: RunData, arms: Arms, truth: dict[str, float]) -> dict[str, Any]:
    """Friction after the first decision, treated vs holdout, one value per account."""
    units = arms.units
    contacts = _after_first(units, data.contacts, "ts_ms")
    repeat = _flag(units, contacts[contacts["repeat_within_7d"].fillna(False)]["account_id"])
    asked = _flag(units, contacts[contacts["asked_again"].fillna(False)]["account_id"])
    switched = _flag(units, _channel_switchers(units, data))
    per_account = contacts.groupby("account_id").size().reindex(units["account_id"]).fillna(0)
    per_account.index = units.index
    treated = units["arm"] == TREATED
    metrics = []
    for key, label, flag, true_key in (
        (
            "repeat_contact",
            "Needed a repeat contact within 7 days",
            repeat,
            "true_repeat_contact_relative_change",
        ),
        ("asked_again", "Had to give information again", asked, "true_asked_again_relative_change"),
        ("channel_switch", "Switched from web/app to a care channel within 7 days", switched, None),
    ):
        diff = _share_comparison(units, flag)
        mde = _share_mde(flag, diff)
        row: dict[str, Any] = {
            "metric": key,
            "label": label,
            "unit": "share of accounts",
            "treated": share_ci(int(flag[treated].sum()), int(treated.sum())).as_dict(),
            "holdout": share_ci(int(flag[~treated].sum()), int((~treated).sum())).as_dict(),
            "difference": diff.as_dict(),
            "mde": mde,
            "verdict": describe_difference(label, diff, mde, "pp"),
        }
        if true_key and true_key in truth:
            row["true_relative_change"] = truth[true_key]
        metrics.append(row)
    steps = mean_difference(
        per_account[treated].astype(float).tolist(), per_account[~treated].astype(float).tolist()
    )
    sd = float(per_account.std()) if len(per_account) > 1 else math.nan
    steps_mde = minimum_detectable_difference(sd, steps.n_treated, steps.n_control)
    metrics.append(
        {
            "metric": "contacts_to_resolution",
            "label": "Care contacts needed after the decision (steps to resolution)",
            "unit": "contacts per account",
            "treated": _mean_interval(per_account[treated]),
            "holdout": _mean_interval(per_account[~treated]),
            "difference": steps.as_dict(),
            "mde": steps_mde,
            "verdict": describe_difference(
                "Care contacts per account", steps, steps_mde, "contacts"
            ),
        }
    )
    return {
        "repeat_contact_rate_treated": metrics[0]["treated"]["value"],
        "repeat_contact_rate_holdout": metrics[0]["holdout"]["value"],
        "metrics": metrics,
    }


def _mean_interval(values: pd.Series) -> dict[str, Any]:
    n = len(values)
    if n < 2:
        return Interval(math.nan, math.nan, math.nan, n).as_dict()
    mean = float(values.mean())
    half = 1.959963984540054 * float(values.std()) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n).as_dict()


def _channel_switchers(units: pd.DataFrame, data: RunData) -> pd.Series:
    """Accounts with a care contact within 7 days after one of their decided sessions."""
    decided = data.decisions[data.decisions["account_id"].isin(units["account_id"])]
    pairs = decided[["account_id", "ts_ms"]].merge(
        data.contacts[["account_id", "ts_ms"]].rename(columns={"ts_ms": "contact_ms"}),
        on="account_id",
    )
    hit = pairs[
        (pairs["contact_ms"] >= pairs["ts_ms"])
        & (pairs["contact_ms"] <= pairs["ts_ms"] + 7 * DAY_MS)
    ]
    return hit["account_id"]


# ------------------------------------------------------------------ funnel


def recognition_funnel(data: RunData) -> list[dict[str, Any]]:
    """From hits to decisions: how far recognition before login carries the visits."""
    sessions = data.sessions
    recognised = sessions["recognised_ms"].notna() & (
        sessions["login_ms"].isna() | (sessions["recognised_ms"] < sessions["login_ms"])
    )
    with_intent = sessions["session_id"].isin(session_top_intent(data.intents)["session_id"])
    decided = data.decisions
    return [
        {"stage": "Web/app hits", "count": len(data.resolved)},
        {
            "stage": "Hits resolved to a line or household",
            "count": int(data.resolved["level"].isin(["line", "household"]).sum()),
        },
        {"stage": "Sessions", "count": len(sessions)},
        {"stage": "Sessions recognised before login", "count": int(recognised.sum())},
        {
            "stage": "Recognised sessions with a detected intent",
            "count": int((recognised & with_intent).sum()),
        },
        {"stage": "Decisions taken", "count": len(decided)},
        {"stage": "Experiences shown", "count": int(decided["shown"].fillna(False).sum())},
    ]
