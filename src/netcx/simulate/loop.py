"""The closed loop: outcomes of the world given netcx's decisions, with known true effects.

Potential outcomes are coupled through common random numbers drawn once at generation time
and stored in `truth/loop_*.parquet`: the same uniform decides whether a supported churner
stays, whether a supported respondent moves up one NPS category, whether a contact repeats.
So `outcomes_under(decisions)` is deterministic, `outcomes_under(no decisions)` is the
baseline in `outcomes/`, and on the supported set the realised effect equals the configured
true effect in expectation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from netcx import tables
from netcx.simulate import catalogue as cat
from netcx.simulate import fmt
from netcx.simulate.params import DAY_S, WorldParams
from netcx.simulate.population import Population, account_ids, line_ids
from netcx.simulate.web import Web

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

LOOP_CHURN = pa.schema(
    [
        ("line_id", pa.string()),
        ("account_id", pa.string()),
        ("journey_id", pa.string()),  # null: churn without web research (not treatable)
        ("churn_ms", pa.int64()),  # when the line churns if it does
        ("baseline", pa.bool_()),  # churns without netcx
        ("u", pa.float64()),
    ]
)
LOOP_NPS = pa.schema(
    [
        ("account_id", pa.string()),
        ("survey_ms", pa.int64()),
        ("score", pa.int8()),  # baseline answer
        ("score_up", pa.int8()),  # answer one category higher (detractor→passive→promoter)
        ("score_down", pa.int8()),  # answer one category lower
        ("u", pa.float64()),
    ]
)
LOOP_CARE = pa.schema(
    [
        ("contact_id", pa.string()),
        ("account_id", pa.string()),
        ("line_id", pa.string()),
        ("journey_id", pa.string()),
        ("ts_ms", pa.int64()),
        ("channel", pa.string()),
        ("reason", pa.string()),
        ("p_repeat", pa.float64()),
        ("u_repeat", pa.float64()),
        ("p_asked_again", pa.float64()),
        ("u_asked_again", pa.float64()),
        ("repeat_ms", pa.int64()),
        ("repeat_channel", pa.string()),
        ("u_repeat_asked_again", pa.float64()),
    ]
)
CHANNELS = ["call", "chat", "shop", "email"]
# Per intent: (probability the journey ends in a care contact, contact reason).
CARE_AFTER = {
    "churn_research": (0.45, "cancel"),
    "billing_problem": (0.6, "billing"),
    "outage": (0.35, "outage"),
    "device_compatibility": (0.15, "device"),
    "upgrade": (0.25, "tariff"),
    "tariff_comparison": (0.1, "tariff"),
    "roaming": (0.1, "roaming"),
    "fibre_availability": (0.15, "tariff"),
}
NPS_PENALTY = {
    "churn_research": 2.0,
    "billing_problem": 1.2,
    "outage": 1.0,
}
P_REPEAT, P_REPEAT_COMPLAINT, P_ASKED_AGAIN = 0.3, 0.45, 0.55


def build_loop_tables(
    pop: Population, p: WorldParams, web: Web, rng: np.random.Generator
) -> dict[str, pa.Table]:
    """The pre-drawn potential outcomes (truth/loop_*.parquet) and the upgrades table."""
    jr = web.latent
    j_ids = web.journeys["journey_id"]
    intent_name = np.asarray(fmt.pick([*cat.INTENTS, "none"], jr.intent), dtype=object)
    horizon = p.outcome_end_s
    # ---- churn: every churn-research journey plus churn without research
    churn_j = np.flatnonzero((intent_name == "churn_research") & (jr.potential_s < horizon))
    n_s = len(web.silent_churn_line)
    c_line = np.concatenate([jr.line[churn_j], web.silent_churn_line])
    churn = pa.table(
        {
            "line_id": line_ids(c_line),
            "account_id": account_ids(pop.line_hh[c_line]),
            "journey_id": pa.concat_arrays(
                [j_ids.combine_chunks().take(pa.array(churn_j)), pa.nulls(n_s, pa.string())]
            ),
            "churn_ms": np.concatenate([jr.potential_s[churn_j], web.silent_churn_s]) * 1000,
            "baseline": np.concatenate([jr.outcome_s[churn_j] >= 0, np.ones(n_s, bool)]),
            "u": rng.random(len(c_line)),
        },
        schema=LOOP_CHURN,
    )
    # ---- upgrades (no treatment effect is modelled on upgrades)
    up = np.flatnonzero((intent_name == "upgrade") & (jr.outcome_s >= 0) & (jr.outcome_s < horizon))
    upgrades = pa.table(
        {
            "line_id": line_ids(jr.line[up]),
            "account_id": account_ids(jr.hh[up]),
            "upgrade_ms": jr.outcome_s[up] * 1000,
        },
        schema=tables.UPGRADES,
    )
    care = _care(pop, p, web, intent_name, rng)
    nps = _nps(pop, p, web, intent_name, care, rng)
    return {"loop_churn": churn, "loop_nps": nps, "loop_care": care, "upgrades": upgrades}


def _care(
    pop: Population,
    p: WorldParams,
    web: Web,
    intent_name: npt.NDArray[Any],
    rng: np.random.Generator,
) -> pa.Table:
    jr = web.latent
    prob = np.array([CARE_AFTER.get(i, (0.0, ""))[0] for i in cat.INTENTS] + [0.0])
    reason_of = [CARE_AFTER[i][1] for i in cat.INTENTS] + ["other"]
    j = np.flatnonzero(rng.random(len(jr)) < prob[jr.intent])
    # Many negative experiences start with anonymous web research, then a call.
    ts = jr.end_s[j] + rng.integers(600, 2 * DAY_S, len(j))
    reason = np.asarray(reason_of, dtype=object)[jr.intent[j]]
    complaint = (reason == "billing") & (rng.random(len(j)) < 0.3)
    reason = np.where(complaint, "complaint", reason)
    line = jr.line[j]
    hh = jr.hh[j]
    # Background contacts without a journey.
    months = p.days / 30
    b_hh = np.flatnonzero(rng.random(pop.n_households) < 0.02 * months).astype(np.int64)
    any_line = np.full(pop.n_households, -1, np.int64)
    any_line[pop.line_hh] = np.arange(len(pop.line_hh))
    b_reason = np.asarray(["billing", "device", "tariff", "other", "complaint"], dtype=object)[
        rng.integers(0, 5, len(b_hh))
    ]
    b_ts = rng.integers(p.start_s, p.end_s, len(b_hh))
    line = np.concatenate([line, any_line[b_hh]])
    hh = np.concatenate([hh, b_hh])
    ts = np.concatenate([ts, b_ts])
    reason = np.concatenate([reason, b_reason])
    journey = np.concatenate([j, np.full(len(b_hh), -1)])
    keep = ts < p.outcome_end_s
    line, hh, ts, reason, journey = line[keep], hh[keep], ts[keep], reason[keep], journey[keep]
    order = np.argsort(ts, kind="stable")
    line, hh, ts, reason, journey = line[order], hh[order], ts[order], reason[order], journey[order]
    n = len(ts)
    channel_p = [0.6, 0.25, 0.1, 0.05]
    return pa.table(
        {
            "contact_id": fmt.ids("C", np.arange(n, dtype=np.int64), 8),
            "account_id": account_ids(hh),
            "line_id": fmt.nullify(line_ids(np.maximum(line, 0)), line >= 0),
            "journey_id": fmt.nullify(fmt.ids("J", np.maximum(journey, 0), 8), journey >= 0),
            "ts_ms": ts * 1000,
            "channel": fmt.pick(CHANNELS, rng.choice(4, n, p=channel_p)),
            "reason": pa.array(reason.astype(str)),
            "p_repeat": np.where(reason == "complaint", P_REPEAT_COMPLAINT, P_REPEAT),
            "u_repeat": rng.random(n),
            "p_asked_again": np.full(n, P_ASKED_AGAIN),
            "u_asked_again": rng.random(n),
            "repeat_ms": (ts + rng.integers(3600, 7 * DAY_S - 3600, n)) * 1000,
            "repeat_channel": fmt.pick(CHANNELS, rng.choice(4, n, p=channel_p)),
            "u_repeat_asked_again": rng.random(n),
        },
        schema=LOOP_CARE,
    )


def _nps(
    pop: Population,
    p: WorldParams,
    web: Web,
    intent_name: npt.NDArray[Any],
    care: pa.Table,
    rng: np.random.Generator,
) -> pa.Table:
    jr = web.latent
    mood = rng.normal(7.6, 1.5, pop.n_households)  # per account
    # Transactional surveys after high-intent journeys and after care contacts; relationship
    # surveys at random.
    high = np.isin(intent_name, sorted(cat.HIGH_INTENT))
    j = np.flatnonzero(high & (rng.random(len(jr)) < 0.35))
    j_ts = jr.end_s[j] + rng.integers(DAY_S, 3 * DAY_S, len(j))
    penalty = np.array([NPS_PENALTY.get(i, 0.3) for i in cat.INTENTS] + [0.0])
    c_hh = np.asarray(
        pc.cast(pc.utf8_slice_codeunits(care["account_id"], 1), pa.int64()), dtype=np.int64
    )
    c_pick = np.flatnonzero(rng.random(len(c_hh)) < 0.25)
    c_ts = care["ts_ms"].to_numpy()[c_pick] // 1000 + rng.integers(DAY_S, 2 * DAY_S, len(c_pick))
    r_hh = np.flatnonzero(rng.random(pop.n_households) < 0.08 * p.days / 30).astype(np.int64)
    r_ts = rng.integers(p.start_s, p.end_s, len(r_hh))
    hh = np.concatenate([jr.hh[j], c_hh[c_pick], r_hh])
    ts = np.concatenate([j_ts, c_ts, r_ts])
    pen = np.concatenate([penalty[jr.intent[j]], np.full(len(c_pick), 0.8), np.zeros(len(r_hh))])
    keep = ts < p.outcome_end_s
    hh, ts, pen = hh[keep], ts[keep], pen[keep]
    order = np.argsort(ts, kind="stable")
    hh, ts, pen = hh[order], ts[order], pen[order]
    n = len(hh)
    score = np.clip(np.rint(mood[hh] - pen + rng.normal(0, 1.2, n)), 0, 10).astype(np.int64)
    up = np.where(score <= 6, rng.integers(7, 9, n), rng.integers(9, 11, n))
    up = np.where(score >= 9, score, up)
    down = np.where(score >= 9, rng.integers(7, 9, n), rng.integers(3, 7, n))
    down = np.where(score <= 6, score, down)
    return pa.table(
        {
            "account_id": account_ids(hh),
            "survey_ms": ts * 1000,
            "score": score.astype(np.int8),
            "score_up": up.astype(np.int8),
            "score_down": down.astype(np.int8),
            "u": rng.random(n),
        },
        schema=LOOP_NPS,
    )


def _supported(
    decisions: pa.Table, session_journey: pa.Table, journeys: pa.Table
) -> tuple[dict[str, int], dict[str, int]]:
    """journey_id → first shown decision (ms); account_id → first support of a high-intent
    journey (ms)."""
    shown = decisions.filter(pc.equal(decisions["shown"], True))
    if shown.num_rows == 0:
        return {}, {}
    joined = shown.select(["session_id", "ts_ms"]).join(session_journey, "session_id")
    joined = joined.filter(pc.is_valid(joined["journey_id"]))
    first = joined.group_by("journey_id").aggregate([("ts_ms", "min")])
    by_journey = dict(
        zip(first["journey_id"].to_pylist(), first["ts_ms_min"].to_pylist(), strict=True)
    )
    high = journeys.filter(pc.equal(journeys["high_intent"], True)).select(
        ["journey_id", "account_id"]
    )
    acc = first.join(high, "journey_id", join_type="inner")
    acc_first = acc.group_by("account_id").aggregate([("ts_ms_min", "min")])
    by_account = dict(
        zip(
            acc_first["account_id"].to_pylist(), acc_first["ts_ms_min_min"].to_pylist(), strict=True
        )
    )
    return by_journey, by_account


def _support_ms(keys: pa.ChunkedArray | pa.Array, support: dict[str, int]) -> IntArray:
    """Per row the support time of its key, or a huge value when unsupported."""
    never = np.iinfo(np.int64).max
    if not support:
        return np.full(len(keys), never, np.int64)
    names = pa.array(list(support.keys()), pa.string())
    times = np.array(list(support.values()), np.int64)
    idx = pc.index_in(keys, value_set=names).to_numpy(zero_copy_only=False)
    found = ~np.isnan(idx.astype(np.float64))
    out = np.full(len(keys), never, np.int64)
    out[found] = times[idx[found].astype(np.int64)]
    return out


def outcomes_under(
    loop: dict[str, pa.Table],
    effects: dict[str, float],
    decisions: pa.Table,
    session_journey: pa.Table,
    journeys: pa.Table,
) -> dict[str, pa.Table]:
    """churn, upgrades, nps, care_contacts when `decisions` (DECISIONS) are applied."""
    by_journey, by_account = _supported(decisions, session_journey, journeys)
    return {
        "churn": _churn(loop["loop_churn"], effects["true_churn_relative_change"], by_journey),
        "upgrades": loop["upgrades"],
        "nps": _nps_under(loop["loop_nps"], effects["true_nps_uplift"], by_account),
        "care_contacts": _care_under(
            loop["loop_care"],
            effects["true_repeat_contact_relative_change"],
            effects["true_asked_again_relative_change"],
            by_journey,
        ),
    }


def _churn(t: pa.Table, change: float, support: dict[str, int]) -> pa.Table:
    base = t["baseline"].to_numpy(zero_copy_only=False)
    u = t["u"].to_numpy()
    at = t["churn_ms"].to_numpy()
    treated = _support_ms(t["journey_id"], support) < at
    if change < 0:
        churns = np.where(treated, base & (u >= -change), base)
    else:
        # Raise churn among supported researchers by `change` relative to their base rate.
        researched = pc.is_valid(t["journey_id"]).to_numpy(zero_copy_only=False)
        p = base[researched].mean() if researched.any() else 0.0
        q = min(1.0, change * p / (1 - p)) if p < 1 else 0.0
        churns = np.where(treated, base | (u < q), base)
    out = t.filter(pa.array(churns)).select(["line_id", "account_id", "churn_ms"])
    return out.sort_by("churn_ms").cast(tables.CHURN)


def _nps_under(t: pa.Table, uplift: float, support: dict[str, int]) -> pa.Table:
    score = t["score"].to_numpy().astype(np.int64)
    treated = _support_ms(t["account_id"], support) < t["survey_ms"].to_numpy()
    if treated.any() and uplift != 0:
        u = t["u"].to_numpy()
        # One category step moves the respondent's NPS contribution by 100 points, so a
        # step with probability q = |uplift| / 100 / (share that can move) gives the
        # uplift in expectation over the treated respondents.
        if uplift > 0:
            movable = treated & (score <= 8)
            alt = t["score_up"].to_numpy().astype(np.int64)
        else:
            movable = treated & (score >= 7)
            alt = t["score_down"].to_numpy().astype(np.int64)
        share = movable.sum() / treated.sum()
        q = min(1.0, abs(uplift) / 100 / share) if share > 0 else 0.0
        score = np.where(movable & (u < q), alt, score)
    return pa.table(
        {
            "account_id": t["account_id"],
            "survey_ms": t["survey_ms"],
            "score": score.astype(np.int8),
        },
        schema=tables.NPS,
    )


def _care_under(
    t: pa.Table, repeat_change: float, asked_change: float, support: dict[str, int]
) -> pa.Table:
    ts = t["ts_ms"].to_numpy()
    treated = _support_ms(t["journey_id"], support) < ts
    p_rep = t["p_repeat"].to_numpy() * np.where(treated, 1 + repeat_change, 1.0)
    p_ask = t["p_asked_again"].to_numpy() * np.where(treated, 1 + asked_change, 1.0)
    repeat = t["u_repeat"].to_numpy() < p_rep
    asked = t["u_asked_again"].to_numpy() < p_ask
    asked_rep = t["u_repeat_asked_again"].to_numpy() < p_ask
    first = pa.table(
        {
            "contact_id": t["contact_id"],
            "account_id": t["account_id"],
            "line_id": t["line_id"],
            "ts_ms": t["ts_ms"],
            "channel": t["channel"],
            "reason": t["reason"],
            "repeat_within_7d": repeat,
            "asked_again": asked,
        },
        schema=tables.CARE_CONTACTS,
    )
    rep = t.filter(pa.array(repeat))
    again = pa.table(
        {
            "contact_id": fmt.join(rep["contact_id"].combine_chunks(), "-r"),
            "account_id": rep["account_id"],
            "line_id": rep["line_id"],
            "ts_ms": rep["repeat_ms"],
            "channel": rep["repeat_channel"],
            "reason": rep["reason"],
            "repeat_within_7d": np.zeros(rep.num_rows, bool),
            "asked_again": asked_rep[repeat],
        },
        schema=tables.CARE_CONTACTS,
    )
    return pa.concat_tables([first, again]).sort_by(
        [("ts_ms", "ascending"), ("contact_id", "ascending")]
    )


def outages_table(outages: dict[str, IntArray]) -> pa.Table:
    n = len(outages["area"])
    return pa.table(
        {
            "outage_id": fmt.ids("O", np.arange(n, dtype=np.int64), 4),
            "area_id": fmt.ids("AR", outages["area"], 3),
            "start_ms": outages["start_s"] * 1000,
            "end_ms": outages["end_s"] * 1000,
            "eta_ms": outages["eta_s"] * 1000,
        },
        schema=tables.OUTAGES,
    )
