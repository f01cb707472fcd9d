"""Web and app traffic on the operator's site, driven by latent intents, with per-hit ground truth.

Every hit is placed *inside* a network holding of the line it travels over, at least
`EDGE_MARGIN_S` away from the holding's edges, so its attribution is decided by the logs alone.
Deliberate exceptions are labelled: `boundary` hits sit within 1 s of a handover of their
address or port block to another line, `after_lease` hits come from an address nobody held,
beyond any inference horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from netcx import tables
from netcx.simulate import catalogue as cat
from netcx.simulate import fmt, population
from netcx.simulate.network import FIXED_PUBLIC, MOBILE_PBA, MONITOR_FIRST, Holdings, Network
from netcx.simulate.params import DAY_S, WorldParams
from netcx.simulate.population import (
    MOBILE,
    Population,
    account_ids,
    household_ids,
    line_ids,
    subscriber_ids,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

EDGE_MARGIN_S = 7  # > 5 s tolerance + 0.5 s clock skew + 1 s log resolution
MAX_SKEW_MS = 400
NONE_INTENT = len(cat.INTENTS)
INTENT_NAMES = [*cat.INTENTS, "none"]
PHONE, APP, DESKTOP, MONITOR = 0, 1, 2, 3
# Network paths of a session.
P_MOBILE, P_FIXED, P_FOREIGN, P_VPN, P_PROSPECT, P_INFRA = range(6)
LEVELS = ["line", "household", "none"]
REASONS = [
    "",
    "prospect",
    "vpn",
    "after_lease",
    "no_port",
    "infrastructure",
    "boundary",
    "foreign_network",
]
R_NONE, R_PROSPECT, R_VPN, R_AFTER, R_NOPORT, R_INFRA, R_BOUNDARY, R_FOREIGN = range(8)


@dataclass
class Journeys:
    intent: IntArray
    line: IntArray  # -1: household-level journey
    sub: IntArray
    hh: IntArray
    start_s: IntArray
    span_s: IntArray  # sessions fall in [start, start + span]
    n_sessions: IntArray
    login: BoolArray
    outcome_s: IntArray  # churn / upgrade time it leads to at baseline, -1 if none
    potential_s: IntArray  # churn_research: when the line would churn (used by the loop)
    end_s: IntArray  # last hit (set once hits exist)

    def __len__(self) -> int:
        return len(self.intent)


@dataclass(frozen=True)
class Web:
    hits: pa.Table  # tables.HITS
    truth: pa.Table  # tables.HITS_TRUTH
    journeys: pa.Table  # tables.JOURNEYS
    sessions: pa.Table  # session_id, journey_id, true_intent
    latent: Journeys  # the same journeys as arrays, `end_s` = last hit
    silent_churn_line: IntArray  # churners without any web research
    silent_churn_s: IntArray


@dataclass(frozen=True)
class Visitors:
    sub: IntArray  # -1 for prospects and the monitor
    hh: IntArray
    kind: IntArray  # PHONE | APP | DESKTOP | MONITOR
    english: BoolArray
    cookie: IntArray  # index into the id table; a reset adds a second id
    reset_s: IntArray  # cookie reset time, or a huge value

    def __len__(self) -> int:
        return len(self.sub)


def _visitors(pop: Population, p: WorldParams, rng: np.random.Generator) -> Visitors:
    n_sub = len(pop.sub_hh)
    sub_line = np.full(n_sub, -1, np.int64)
    mob = pop.mobile_lines
    sub_line[pop.line_sub[mob]] = mob
    has_mobile = sub_line >= 0
    has_fixed = pop.hh_has_fixed[pop.sub_hh]
    phone = has_mobile & (rng.random(n_sub) < 0.75)
    app = has_mobile & (rng.random(n_sub) < 0.35)
    desktop = (has_fixed & (rng.random(n_sub) < 0.6)) | (~has_fixed & (rng.random(n_sub) < 0.2))
    # Everyone can reach the site somehow: the phone if nothing else.
    phone |= ~(phone | app | desktop)
    subs = [np.flatnonzero(x) for x in (phone, app, desktop)]
    sub = np.concatenate(subs).astype(np.int64)
    kind = np.concatenate([np.full(len(x), k) for k, x in enumerate(subs)]).astype(np.int64)
    n_pros = max(1, p.households // 4)
    sub = np.concatenate([sub, np.full(n_pros + 1, -1)])
    kind = np.concatenate([kind, rng.choice([PHONE, DESKTOP], n_pros), [MONITOR]]).astype(np.int64)
    hh = np.where(sub >= 0, pop.sub_hh[np.maximum(sub, 0)], -1)
    order = np.lexsort((kind, sub))  # grouped by subscriber (prospects first)
    sub, kind, hh = sub[order], kind[order], hh[order]
    n = len(sub)
    reset = (kind != APP) & (kind != MONITOR) & (rng.random(n) < 0.15)
    reset_s = np.where(reset, rng.integers(p.start_s, p.end_s, n), np.iinfo(np.int64).max)
    return Visitors(
        sub=sub,
        hh=hh.astype(np.int64),
        kind=kind,
        english=rng.random(n) < 0.15,
        cookie=np.arange(n, dtype=np.int64),
        reset_s=reset_s.astype(np.int64),
    )


def _journeys(
    pop: Population, p: WorldParams, outages: dict[str, IntArray], rng: np.random.Generator
) -> tuple[Journeys, IntArray, IntArray]:
    """Latent journeys per intent (see docs/world.md for the rates)."""
    t0, t1 = p.start_s, p.end_s
    n_lines = len(pop.line_kind)
    months = (p.days + 30) / 30
    parts: list[dict[str, IntArray]] = []

    def add(
        intent: str,
        line: IntArray,
        start: IntArray,
        span: IntArray,
        sessions: IntArray,
        outcome: IntArray | None = None,
        hh: IntArray | None = None,
        potential: IntArray | None = None,
    ) -> None:
        n = len(start)
        hh_ = pop.line_hh[line] if hh is None else hh
        sub = np.where(line >= 0, pop.line_sub[np.maximum(line, 0)], -1)
        parts.append(
            {
                "intent": np.full(n, cat.INTENTS.index(intent), np.int64),
                "line": line.astype(np.int64),
                "sub": sub.astype(np.int64),
                "hh": hh_.astype(np.int64),
                "start_s": start.astype(np.int64),
                "span_s": span.astype(np.int64),
                "n_sessions": sessions.astype(np.int64),
                "outcome_s": (np.full(n, -1) if outcome is None else outcome).astype(np.int64),
                "potential_s": (np.full(n, -1) if potential is None else potential).astype(
                    np.int64
                ),
            }
        )

    # Billing problems (per account) come first: they raise the churn hazard.
    b_hh = np.flatnonzero(rng.random(pop.n_households) < 0.02 * months).astype(np.int64)
    b_start = rng.integers(t0, t1 - 3600, len(b_hh))
    lines_of = _any_line_of_hh(pop, rng)
    # Churn: a hazard from CRM facts; most churners research first (see docs/world.md).
    hazard, earliest = churn_hazard(pop, p, outages, b_hh, b_start)
    rate = np.where(pop.line_kind == MOBILE, 0.015, 0.010) * months
    churner = np.flatnonzero(rng.random(n_lines) < -np.expm1(-rate * hazard))
    lo = earliest[churner]
    churn_s = lo + (rng.random(len(churner)) * (p.outcome_end_s - lo)).astype(np.int64)
    lead_s = (np.clip(rng.lognormal(np.log(30), 0.6, len(churner)), 2, 90) * DAY_S).astype(np.int64)
    # Research runs from the lead time before the churn until shortly before it; only the
    # part inside the web window is visible.
    r_first = churn_s - lead_s
    r_last = churn_s - rng.integers(2 * 3600, 2 * DAY_S, len(churner))
    sessions = np.where(rng.random(len(churner)) < 0.15, 1, rng.integers(2, 9, len(churner)))
    vis_lo = np.where(
        r_first >= t0, r_first, t0 + (rng.random(len(churner)) * 3 * DAY_S).astype(np.int64)
    )
    vis_hi = np.minimum(r_last, t1 - 2 * 3600)
    researched = (rng.random(len(churner)) < RESEARCH_SHARE) & (vis_hi - vis_lo >= 3600)
    visible = np.clip((vis_hi - vis_lo) / np.maximum(r_last - r_first, 1), 0.0, 1.0)
    c_line = churner[researched]
    c_sessions = np.maximum(1, np.round(sessions * visible)).astype(np.int64)[researched]
    c_span = np.where(c_sessions > 1, (vis_hi - vis_lo)[researched], 0)
    add(
        "churn_research",
        c_line,
        vis_lo[researched],
        np.maximum(c_span, 600),
        c_sessions,
        churn_s[researched],
        potential=churn_s[researched],
    )
    # Researchers who stay: fewer, also weighted by the hazard (their would-be churn time is
    # kept for the closed loop).
    stay_rate = 0.5 * RESEARCH_SHARE * np.where(pop.line_kind == MOBILE, 0.015, 0.010) * months
    s_line = np.flatnonzero(rng.random(n_lines) < -np.expm1(-stay_rate * hazard))
    s_line = s_line[~np.isin(s_line, churner)]
    k = len(s_line)
    s_start = rng.integers(t0, t1 - DAY_S, k)
    s_lead = (np.clip(rng.lognormal(np.log(30), 0.6, k), 2, 90) * DAY_S).astype(np.int64)
    add(
        "churn_research",
        s_line,
        s_start,
        np.minimum(rng.integers(3600, 10 * DAY_S, k), t1 - 2 * 3600 - s_start).clip(600),
        rng.integers(1, 5, k),
        potential=s_start + s_lead,
    )
    self_churners = churner[~researched]
    # Upgrade research near the end of the contract.
    end = pop.line_contract_end_s
    near = np.flatnonzero((end > t0 - 60 * DAY_S) & (end < t1 + 45 * DAY_S))
    near = near[rng.random(len(near)) < 0.35]
    u_start = np.clip(end[near] - rng.integers(0, 40 * DAY_S, len(near)), t0, t1 - DAY_S)
    upgrades = rng.random(len(near)) < 0.5
    u_span = rng.integers(3600, 7 * DAY_S, len(near))
    u_out = np.where(upgrades, u_start + u_span + rng.integers(3600, 10 * DAY_S, len(near)), -1)
    add("upgrade", near, u_start, u_span, rng.integers(1, 4, len(near)), u_out)

    def simple(intent: str, pool: IntArray, share: float, span_days: float) -> None:
        chosen = pool[rng.random(len(pool)) < share * months]
        n = len(chosen)
        add(
            intent,
            chosen,
            rng.integers(t0, t1 - 3600, n),
            rng.integers(600, max(601, int(span_days * DAY_S)), n),
            rng.integers(1, 4, n),
        )

    all_lines = np.arange(n_lines, dtype=np.int64)
    simple("tariff_comparison", all_lines, 0.03, 5)
    simple("device_compatibility", pop.mobile_lines, 0.025, 3)
    simple("roaming", pop.mobile_lines, 0.03, 6)
    # Fibre availability: a household question (line = its fixed line if it has one).
    hh = np.flatnonzero(rng.random(pop.n_households) < 0.05 * months).astype(np.int64)
    fixed_of = pop.fixed_line_of_hh()
    add(
        "fibre_availability",
        fixed_of[hh],
        rng.integers(t0, t1 - 3600, len(hh)),
        rng.integers(600, 5 * DAY_S, len(hh)),
        rng.integers(1, 3, len(hh)),
        hh=hh,
    )
    # Billing problems: per account (drawn above).
    add(
        "billing_problem",
        lines_of[b_hh],
        b_start,
        rng.integers(600, 4 * DAY_S, len(b_hh)),
        rng.integers(1, 4, len(b_hh)),
        hh=b_hh,
    )
    # Outage checks by lines in the affected area, during the outage.
    out = outages
    area = pop.hh_area[pop.line_hh]
    for a, start, stop in zip(out["area"], out["start_s"], out["end_s"], strict=True):
        affected = np.flatnonzero((area == a) & (rng.random(n_lines) < 0.25))
        n = len(affected)
        s = rng.integers(start, max(start + 1, stop - 1800), n)
        add("outage", affected, s, np.minimum(stop - s, 4 * 3600).clip(600), rng.integers(1, 3, n))
    cols = {k: np.concatenate([d[k] for d in parts]) for k in parts[0]}
    n = len(cols["intent"])
    # A household journey is researched by one of its people.
    no_sub = cols["sub"] < 0
    cols["sub"][no_sub] = _random_sub_of_hh(pop, cols["hh"][no_sub], rng)
    journeys = Journeys(**cols, login=rng.random(n) < 0.25, end_s=np.zeros(n, np.int64))
    return journeys, self_churners, churn_s[~researched]


RESEARCH_SHARE = 0.9  # churners who research before leaving (if inside the web window)


def churn_hazard(
    pop: Population,
    p: WorldParams,
    outages: dict[str, IntArray],
    billing_hh: IntArray,
    billing_start_s: IntArray,
) -> tuple[npt.NDArray[np.float64], IntArray]:
    """Relative churn hazard per line (mean 1) from CRM facts, and its earliest churn time.

    Out of contract or near its end, short tenure, a legacy price above the tariff's list
    price, prepaid, an old device, an outage in the line's area and a billing problem of
    its account each multiply the hazard; after an outage or billing problem the line
    churns only later than it.
    """
    t0, end = p.start_s, p.outcome_end_s
    days_to_end = (pop.line_contract_end_s - t0) / DAY_S
    tenure = (t0 - (pop.line_contract_end_s - 730 * DAY_S)) / DAY_S
    m = np.where(days_to_end < 0, 3.0, np.where(days_to_end < 90, 5.0, 0.1))
    m = m * np.where(tenure < 365, 1.4, 1.0)
    overpay = pop.line_charge / np.maximum(population.list_price(pop), 0.01) - 1
    m = m * (1 + 6 * np.clip(overpay, 0, None))
    m = m * np.where((pop.line_kind == MOBILE) & (pop.line_tariff == population.PREPAID), 1.5, 1)
    m = m * np.where(population.old_device(pop), 1.5, 1.0)
    earliest = np.full(len(m), t0 + 2 * DAY_S, np.int64)
    # Near the contract end: churn from a week before it.
    near = (days_to_end >= 0) & (pop.line_contract_end_s < end - 7 * DAY_S)
    earliest = np.where(near, np.maximum(earliest, pop.line_contract_end_s - 7 * DAY_S), earliest)
    # An outage in the area: first outage per area.
    first_outage = np.full(pop.n_areas, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first_outage, outages["area"], outages["start_s"])
    line_outage = first_outage[pop.hh_area[pop.line_hh]]
    hit = line_outage < end - 7 * DAY_S
    m = m * np.where(hit, 2.0, 1.0)
    earliest = np.where(hit, np.maximum(earliest, line_outage + DAY_S), earliest)
    # A billing problem of the account.
    hh_billing = np.full(pop.n_households, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(hh_billing, billing_hh, billing_start_s)
    line_billing = hh_billing[pop.line_hh]
    billed = line_billing < end - 7 * DAY_S
    m = m * np.where(billed, 3.0, 1.0)
    earliest = np.where(billed, np.maximum(earliest, line_billing + 2 * DAY_S), earliest)
    return m / m.mean(), earliest.astype(np.int64)


def build_outages(pop: Population, p: WorldParams, rng: np.random.Generator) -> dict[str, IntArray]:
    n = max(2, p.days // 4)
    start = rng.integers(p.start_s + 3600, p.end_s - 13 * 3600, n)
    dur = rng.integers(3600, 12 * 3600, n)
    eta = start + (dur * rng.uniform(0.6, 1.4, n)).astype(np.int64)
    return {
        "area": rng.integers(0, pop.n_areas, n),
        "start_s": start,
        "end_s": start + dur,
        "eta_s": eta,
    }


def _any_line_of_hh(pop: Population, rng: np.random.Generator) -> IntArray:
    out = np.full(pop.n_households, -1, np.int64)
    order = rng.permutation(len(pop.line_hh))
    out[pop.line_hh[order]] = order
    return out


def _random_sub_of_hh(pop: Population, hh: IntArray, rng: np.random.Generator) -> IntArray:
    counts = np.bincount(pop.sub_hh, minlength=pop.n_households)
    first = np.cumsum(counts) - counts  # subscribers are numbered by household
    return (first[hh] + (rng.random(len(hh)) * counts[hh]).astype(np.int64)).astype(np.int64)


@dataclass
class _Sessions:
    visitor: IntArray
    t_s: IntArray
    journey: IntArray  # -1: browsing without a latent intent
    intent: IntArray
    n_hits: IntArray
    login: BoolArray

    def __len__(self) -> int:
        return len(self.visitor)


def _plan_sessions(
    p: WorldParams, vis: Visitors, jr: Journeys, n_sub: int, rng: np.random.Generator
) -> _Sessions:
    t0, t1 = p.start_s, p.end_s
    counts = np.bincount(vis.sub[vis.sub >= 0], minlength=n_sub)
    first = np.searchsorted(vis.sub, np.arange(n_sub))
    js = np.repeat(np.arange(len(jr), dtype=np.int64), jr.n_sessions)
    rank = fmt.group_ranks(jr.n_sessions)
    t = jr.start_s[js] + (rng.random(len(js)) * jr.span_s[js]).astype(np.int64)
    t = np.where(rank == 0, jr.start_s[js], t)
    sub = jr.sub[js]
    j_vis = first[sub] + (rng.random(len(js)) * counts[sub]).astype(np.int64)
    last = rank == jr.n_sessions[js] - 1
    # Browsing without intent: customers every ~10 days, prospects every ~7.
    cust = np.flatnonzero(vis.kind != MONITOR)
    rate = np.where(vis.sub[cust] >= 0, p.days / 10, p.days / 7)
    k = rng.poisson(rate)
    n_vis = np.repeat(cust, k)
    n_t = rng.integers(t0, t1, len(n_vis))
    # The availability monitor fetches the home page every two hours.
    monitor = np.flatnonzero(vis.kind == MONITOR)
    m_t = np.arange(t0 + 3600, t1 - 3600, 7200, dtype=np.int64)
    m_vis = np.repeat(monitor, len(m_t))
    n_j, n_n, n_m = len(js), len(n_vis), len(m_t)
    return _Sessions(
        visitor=np.concatenate([j_vis, n_vis, m_vis]).astype(np.int64),
        t_s=np.concatenate([t, n_t, m_t]).astype(np.int64),
        journey=np.concatenate([js, np.full(n_n + n_m, -1)]).astype(np.int64),
        intent=np.concatenate([jr.intent[js], np.full(n_n + n_m, NONE_INTENT)]).astype(np.int64),
        n_hits=np.concatenate(
            [rng.integers(3, 11, n_j), 1 + rng.geometric(0.35, n_n), np.ones(n_m, np.int64)]
        ).astype(np.int64),
        login=np.concatenate([jr.login[js] & last, rng.random(n_n) < 0.04, np.zeros(n_m, bool)]),
    )


@dataclass
class _HitRows:
    """Hit-level arrays before formatting (session order)."""

    session: IntArray
    visitor: IntArray
    ts_ms: IntArray
    path: IntArray
    holding: IntArray  # -1 off our network
    v6: BoolArray
    has_port: BoolArray
    event: IntArray  # 0 page, 1 search, 2 login
    forced_reason: IntArray  # R_BOUNDARY / R_AFTER for injected hits, else R_NONE


def _holding_lookup(h: Holdings, p: WorldParams) -> tuple[IntArray, IntArray, IntArray]:
    lo = np.maximum(h.block_start_s + EDGE_MARGIN_S, p.start_s + 600)
    hi = np.minimum(h.block_end_s - EDGE_MARGIN_S, p.end_s - 600)
    return h.line * (1 << 32) + h.block_start_s, lo, hi


def _place(
    ses: _Sessions,
    vis: Visitors,
    pop: Population,
    p: WorldParams,
    h: Holdings,
    rng: np.random.Generator,
) -> _HitRows:
    n = len(ses)
    kind = vis.kind[ses.visitor]
    sub = vis.sub[ses.visitor]
    hh = vis.hh[ses.visitor]
    sub_line = np.full(len(pop.sub_hh), -1, np.int64)
    mob = pop.mobile_lines
    sub_line[pop.line_sub[mob]] = mob
    mline = np.where(sub >= 0, sub_line[np.maximum(sub, 0)], -1)
    fline = np.where(hh >= 0, pop.fixed_line_of_hh()[np.maximum(hh, 0)], -1)
    u = rng.random(n)
    on_phone = (kind == PHONE) | (kind == APP)
    path = np.where(
        on_phone,
        np.where(
            (mline >= 0) & ((u < 0.6) | (fline < 0)),
            P_MOBILE,
            np.where(fline >= 0, P_FIXED, P_FOREIGN),
        ),
        np.where((fline >= 0) & (u < 0.9), P_FIXED, P_FOREIGN),
    )
    path = np.where((sub >= 0) & (rng.random(n) < 0.04), P_VPN, path)
    path = np.where(sub < 0, P_PROSPECT, path)
    path = np.where(kind == MONITOR, P_INFRA, path)
    net_line = np.where(path == P_MOBILE, mline, np.where(path == P_FIXED, fline, -1))
    # Find the holding of the line at the wanted time, else its next one.
    key, lo, hi = _holding_lookup(h, p)
    on_net = net_line >= 0
    t = ses.t_s.copy()
    i = np.searchsorted(key, net_line * (1 << 32) + t, side="right") - 1
    i_ok = on_net & (i >= 0)
    i_c = np.clip(i, 0, len(h) - 1)
    here = i_ok & (h.line[i_c] == net_line) & (t <= hi[i_c]) & (lo[i_c] < hi[i_c])
    j = np.clip(i + 1, 0, len(h) - 1)
    nxt = on_net & ~here & (h.line[j] == net_line) & (lo[j] < hi[j])
    holding = np.where(here, i_c, np.where(nxt, j, -1))
    t = np.where(nxt, lo[j] + (rng.random(n) * np.minimum(hi[j] - lo[j], 3600)).astype(np.int64), t)
    lost = on_net & (holding < 0)
    path = np.where(lost, P_FOREIGN, path)
    # Hits within the session: gaps of 3 s plus ~40 s exponential.
    rows = np.repeat(np.arange(n, dtype=np.int64), ses.n_hits)
    gaps = 3 + rng.exponential(40.0, len(rows))
    gaps[np.cumsum(ses.n_hits) - ses.n_hits] = 0.0
    offs = np.cumsum(gaps)
    offs -= np.repeat(offs[np.cumsum(ses.n_hits) - ses.n_hits], ses.n_hits)
    dur = np.zeros(n)
    np.maximum.at(dur, rows, offs)
    hold = holding >= 0
    hcl = np.maximum(holding, 0)
    win_lo, win_hi = p.start_s + 600, p.end_s - 600
    lo_s = np.where(hold, lo[hcl], win_lo)
    hi_s = np.where(hold, hi[hcl], win_hi)
    room = np.maximum(hi_s - lo_s, 0).astype(np.float64)
    scale = np.minimum(1.0, room / np.maximum(dur, 1e-9))
    t = np.clip(t, lo_s, np.maximum(lo_s, hi_s - np.minimum(dur, room).astype(np.int64)))
    ts_ms = (t[rows] * 1000 + offs * scale[rows] * 1000).astype(np.int64)
    ts_ms += rng.integers(-MAX_SKEW_MS, MAX_SKEW_MS + 1, len(rows))
    m = len(rows)
    dual = rng.random(n) < 0.8
    v6 = dual[rows] & np.isin(path[rows], [P_MOBILE, P_FIXED]) & (rng.random(m) < 0.4)
    login = np.zeros(m, bool)
    login[np.cumsum(ses.n_hits) - 1] = ses.login
    search = ~login & (rng.random(m) < np.where(ses.journey[rows] >= 0, 0.1, 0.04))
    event = np.where(login, 2, np.where(search, 1, 0)).astype(np.int64)
    return _HitRows(
        session=rows,
        visitor=ses.visitor[rows],
        ts_ms=ts_ms,
        path=path[rows],
        holding=holding[rows],
        v6=v6,
        has_port=rng.random(m) >= 0.1,
        event=event,
        forced_reason=np.zeros(m, np.int64),
    )


def _first_visitor(vis: Visitors, sub: IntArray) -> IntArray:
    return np.searchsorted(vis.sub, sub).astype(np.int64)


def _inject(
    pop: Population, p: WorldParams, h: Holdings, vis: Visitors, rng: np.random.Generator
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(visitor, holding, ts_ms, reason) of the deliberate boundary and after-lease hits."""
    t0, t1 = p.start_s, p.end_s
    cap = max(5, p.households // 100)
    # Boundary: within 1 s after an address or port block passed from another line.
    cand = np.flatnonzero((h.path == FIXED_PUBLIC) | (h.path == MOBILE_PBA))
    key = np.where(
        h.path[cand] == FIXED_PUBLIC, h.lane[cand], ((h.instance[cand] + 1) << 24) | h.slot[cand]
    )
    by_key = np.lexsort((h.block_start_s[cand], key))
    order, key_sorted = cand[by_key], key[by_key]
    prev, cur = order[:-1], order[1:]
    gap = h.block_start_s[cur] - h.block_end_s[prev]
    ok = (
        (key_sorted[:-1] == key_sorted[1:])
        & (h.line[prev] != h.line[cur])
        & (gap >= 0)
        & (gap <= 1)
        & (h.block_start_s[cur] > t0 + 600)
        & (h.block_start_s[cur] < t1 - 600)
        & (h.block_end_s[cur] - h.block_start_s[cur] > 60)
    )
    b = cur[ok]
    b = b[rng.permutation(len(b))[:cap]]
    b_ts = h.block_start_s[b] * 1000 + rng.integers(100, 401, len(b))
    # After lease: an address nobody holds, beyond last record + 3 interims.
    fixed = np.flatnonzero(h.path == FIXED_PUBLIC)
    f_order = fixed[np.lexsort((h.start_s[fixed], h.lane[fixed]))]
    nxt_start = np.full(len(f_order), t1, np.int64)
    same = h.lane[f_order[:-1]] == h.lane[f_order[1:]]
    nxt_start[:-1] = np.where(same, h.start_s[f_order[1:]], t1)
    t_min = np.maximum(h.last_seen_s[f_order] + 3 * p.interim_interval_s, h.end_s[f_order]) + 300
    t_max = np.minimum(nxt_start, t1 - 600) - 300
    ok = (h.last_seen_s[f_order] >= 0) & (t_min >= t0 + 600) & (t_min < t_max)
    a = f_order[ok]
    pick = rng.permutation(len(a))[:cap]
    a = a[pick]
    lo, hi = t_min[ok][pick], t_max[ok][pick]
    a_ts = (lo * 1000 + rng.random(len(a)) * (hi - lo) * 1000).astype(np.int64)
    holding = np.concatenate([b, a]).astype(np.int64)
    line = h.line[holding]
    sub = np.where(
        pop.line_sub[line] >= 0, pop.line_sub[line], np.searchsorted(pop.sub_hh, pop.line_hh[line])
    )
    reason = np.concatenate([np.full(len(b), R_BOUNDARY), np.full(len(a), R_AFTER)])
    return _first_visitor(vis, sub), holding, np.concatenate([b_ts, a_ts]), reason.astype(np.int64)


def _catalogue_csr(
    entries: list[tuple[int, str, str]],
) -> tuple[IntArray, IntArray, pa.Array, pa.Array]:
    """(first, count) per group id, and the path/title arrays ordered by group."""
    entries = sorted(entries, key=lambda e: e[0])
    group = np.array([e[0] for e in entries], np.int64)
    n_groups = (NONE_INTENT + 1) * 2
    count = np.bincount(group, minlength=n_groups).astype(np.int64)
    first = (np.cumsum(count) - count).astype(np.int64)
    return first, count, pa.array([e[1] for e in entries]), pa.array([e[2] for e in entries])


def _pages() -> tuple[IntArray, IntArray, pa.Array, pa.Array]:
    entries: list[tuple[int, str, str]] = []
    sources = [*(cat.PAGES[i] for i in cat.INTENTS), cat.GENERIC_PAGES]
    for i, pages in enumerate(sources):
        for path, title in pages:
            english = int(path.startswith("/en"))
            entries.append((i * 2 + english, path, title))
    return _catalogue_csr(entries)


def _searches() -> tuple[IntArray, IntArray, pa.Array, pa.Array]:
    sources = [*(cat.SEARCHES[i] for i in cat.INTENTS), cat.GENERIC_SEARCHES]
    entries = [(i * 2, term, term) for i, terms in enumerate(sources) for term in terms]
    return _catalogue_csr(entries)


def _choose(first: IntArray, count: IntArray, group: IntArray, u: FloatArray) -> IntArray:
    # Fall back to the other language when a group has no entry in this one.
    group = np.where(count[group] > 0, group, group ^ 1)
    return first[group] + (u * count[group]).astype(np.int64)


def build_web(
    pop: Population,
    p: WorldParams,
    net: Network,
    outages: dict[str, IntArray],
    rng: np.random.Generator,
) -> Web:
    h = net.holdings
    vis = _visitors(pop, p, rng)
    jr, silent_line, silent_s = _journeys(pop, p, outages, rng)
    ses = _plan_sessions(p, vis, jr, len(pop.sub_hh), rng)
    rows = _place(ses, vis, pop, p, h, rng)
    i_vis, i_hold, i_ts, i_reason = _inject(pop, p, h, vis, rng)
    k = len(i_vis)
    s_journey = np.concatenate([ses.journey, np.full(k, -1)]).astype(np.int64)
    s_intent = np.concatenate([ses.intent, np.full(k, NONE_INTENT)]).astype(np.int64)
    session = np.concatenate([rows.session, len(ses) + np.arange(k)]).astype(np.int64)
    visitor = np.concatenate([rows.visitor, i_vis])
    ts_ms = np.concatenate([rows.ts_ms, i_ts])
    path = np.concatenate([rows.path, np.where(h.path[i_hold] == FIXED_PUBLIC, P_FIXED, P_MOBILE)])
    holding = np.concatenate([rows.holding, i_hold])
    has_port = np.concatenate([rows.has_port, np.ones(k, bool)])
    event = np.concatenate([rows.event, np.zeros(k, np.int64)])
    forced = np.concatenate([rows.forced_reason, i_reason])
    m = len(session)
    n_ses = len(ses) + k
    on = holding >= 0
    hc = np.maximum(holding, 0)
    # ---- addresses
    foreign = np.isin(path, [P_FOREIGN, P_PROSPECT])
    v6 = np.concatenate([rows.v6, np.zeros(k, bool)]) | (foreign & (rng.random(m) < 0.3))
    r24 = rng.integers(0, 1 << 24, m)
    v4 = np.select(
        [on, path == P_VPN, path == P_INFRA],
        [
            h.outside_ip[hc],
            (241 << 24) + rng.integers(1, 200, m),
            MONITOR_FIRST + rng.integers(0, 10, m),
        ],
        ((rng.integers(242, 255, m)) << 24) + r24,
    )
    p_lo = np.maximum(h.port_lo[hc], 1024)
    p_hi = h.port_hi[hc]
    port = np.where(
        on,
        p_lo + (rng.random(m) * (p_hi - p_lo + 1)).astype(np.int64),
        rng.integers(1024, 65536, m),
    )
    vi = h.v6_index[hc]
    mobile_net = h.path[hc] != FIXED_PUBLIC
    r = [rng.integers(0, 65536, m) for _ in range(4)]
    g3 = np.where(
        on,
        np.where(mobile_net, 0x4000 + (vi >> 16), 0x8000 + (vi >> 8)),
        0xF000 | rng.integers(0, 0x1000, m),
    )
    g4 = np.where(
        on,
        np.where(mobile_net, vi & 0xFFFF, ((vi & 0xFF) << 8) | rng.integers(0, 256, m)),
        rng.integers(0, 65536, m),
    )
    # ---- ground truth
    reason = np.select(
        [
            forced > 0,
            path == P_FOREIGN,
            path == P_VPN,
            path == P_PROSPECT,
            path == P_INFRA,
            (path == P_MOBILE) & ~v6 & ~has_port,
        ],
        [forced, R_FOREIGN, R_VPN, R_PROSPECT, R_INFRA, R_NOPORT],
        R_NONE,
    )
    level = np.where(reason != R_NONE, 2, np.where(path == P_MOBILE, 0, 1))
    true_line = np.where(on, h.line[hc], -1)
    # ---- pages, searches, logins as codes into small vocabularies
    first, count, paths, titles = _pages()
    s_first, s_count, terms, _ = _searches()
    n_pages, n_terms = len(paths), len(terms)
    journey_hit = s_journey[session] >= 0
    u = rng.random(m)
    page_intent = np.where(
        journey_hit & (u < 0.65),
        s_intent[session],
        np.where(~journey_hit & (u > 0.97), rng.integers(0, NONE_INTENT, m), NONE_INTENT),
    )
    english = vis.english[visitor].astype(np.int64)
    page = _choose(first, count, page_intent * 2 + english, rng.random(m))
    term_i = _choose(
        s_first, s_count, np.where(journey_hit, s_intent[session], NONE_INTENT) * 2, rng.random(m)
    )
    is_app = (vis.kind[visitor] == APP).astype(np.int64)
    item = np.where(event == 2, n_pages + n_terms, np.where(event == 1, n_pages + term_i, page))
    n_items = n_pages + n_terms + 1
    url_code = item + is_app * n_items
    title_code = np.where(event == 2, n_pages + 1, np.where(event == 1, n_pages, page))
    first_in_session = np.ones(m, bool)
    first_in_session[1:] = session[1:] != session[:-1]
    prev = np.where(first_in_session, 0, np.arange(m) - 1)
    external = rng.integers(0, len(cat.REFERRERS), m)
    ref_code = np.where(first_in_session, 2 * n_items + external, url_code[prev])
    direct = first_in_session & (external == 0)
    # ---- time order: permute the per-hit arrays once, before any string is built
    order = np.argsort(ts_ms, kind="stable")
    (
        session,
        visitor,
        ts_ms,
        v6,
        v4,
        port,
        has_port,
        g3,
        g4,
        event,
        reason,
        level,
        true_line,
        url_code,
        title_code,
        ref_code,
        direct,
        term_i,
        is_app,
        *r,
    ) = (
        x[order]
        for x in (
            session,
            visitor,
            ts_ms,
            v6,
            v4,
            port,
            has_port,
            g3,
            g4,
            event,
            reason,
            level,
            true_line,
            url_code,
            title_code,
            ref_code,
            direct,
            term_i,
            is_app,
            *r,
        )
    )
    c = np.full(m, 0x2001), np.full(m, 0xDB8)
    src_ip = pc.if_else(pa.array(v6), fmt.ipv6_groups([c[0], c[1], g3, g4, *r]), fmt.ipv4(v4))
    items = [
        *paths.to_pylist(),
        *(f"/suche?q={t.replace(' ', '+')}" for t in terms.to_pylist()),
        cat.LOGIN[0],
    ]
    url_vocab = [cat.SITE + x for x in items] + [cat.APP + x for x in items]
    title_vocab = [*titles.to_pylist(), "Suche", cat.LOGIN[1]]
    sub = vis.sub[visitor]
    hh = vis.hh[visitor]
    known = sub >= 0
    # ---- visitors (cookie reset → a second id from then on)
    n_vis = len(vis)
    cookie_kind = np.repeat(np.where(vis.kind == APP, 1, 0), 2)
    vid_table = fmt.join(
        fmt.pick(["c-", "app-"], cookie_kind),
        fmt.hex64(rng.integers(0, 1 << 62, 2 * n_vis).astype(np.uint64)),
    )
    second = ts_ms >= vis.reset_s[visitor] * 1000
    ua_kind = np.where(
        vis.kind == APP, 1, np.where(vis.kind == DESKTOP, 2, np.where(vis.kind == MONITOR, 3, 0))
    )
    ua_lists = [cat.USER_AGENTS[x] for x in ("phone", "app", "desktop", "monitor")]
    ua_flat = [ua for lst in ua_lists for ua in lst]
    ua_first = np.cumsum([0] + [len(x) for x in ua_lists[:-1]])
    ua_count = np.array([len(x) for x in ua_lists])
    ua_vis = ua_first[ua_kind] + (rng.random(n_vis) * ua_count[ua_kind]).astype(np.int64)
    c_analytics = rng.random(n_vis) < 0.85
    c_personal = c_analytics & (rng.random(n_vis) < 0.7)
    c_marketing = rng.random(n_vis) < 0.4
    n_sub = len(pop.sub_hh)
    sub_vocab = subscriber_ids(np.arange(n_sub, dtype=np.int64))
    hit_id = np.arange(1, m + 1, dtype=np.int64)
    hits = pa.table(
        {
            "hit_id": hit_id,
            "ts_ms": ts_ms,
            "visitor_id": fmt.categorical(vid_table, 2 * visitor + second),
            "session_id": fmt.categorical(fmt.ids("W", np.arange(n_ses), 9), session),
            "channel": fmt.categorical(["web", "app"], is_app),
            "event_type": fmt.categorical(
                ["page", "search", "login", "screen"],
                np.where((is_app == 1) & (event == 0), 3, event),
            ),
            "url": fmt.categorical(url_vocab, url_code),
            "title": fmt.categorical(title_vocab, title_code),
            "search_term": fmt.categorical(terms, term_i, event == 1),
            "referrer": fmt.categorical(url_vocab + cat.REFERRERS, ref_code, ~direct),
            "user_agent": fmt.categorical(ua_flat, ua_vis[visitor]),
            "src_ip": src_ip,
            "src_port": pa.array(port.astype(np.int32), mask=~has_port),
            "login_subscriber_id": fmt.categorical(
                sub_vocab, np.maximum(sub, 0), (event == 2) & known
            ),
            "consent_analytics": c_analytics[visitor],
            "consent_personalisation": c_personal[visitor],
            "consent_marketing": c_marketing[visitor],
        }
    )
    hh_vocab = np.arange(pop.n_households, dtype=np.int64)
    hh_c = np.maximum(hh, 0)
    journey = s_journey[session]
    truth = pa.table(
        {
            "hit_id": hit_id,
            "true_line_id": fmt.categorical(
                line_ids(np.arange(len(pop.line_kind), dtype=np.int64)),
                np.maximum(true_line, 0),
                true_line >= 0,
            ),
            "true_subscriber_id": fmt.categorical(sub_vocab, np.maximum(sub, 0), known),
            "true_household_id": fmt.categorical(household_ids(hh_vocab), hh_c, known),
            "true_account_id": fmt.categorical(account_ids(hh_vocab), hh_c, known),
            "attributable_level": fmt.categorical(LEVELS, level),
            "unattributable_reason": fmt.categorical(REASONS, reason, reason != R_NONE),
            "true_intent": fmt.categorical(INTENT_NAMES, s_intent[session]),
            "journey_id": fmt.categorical(
                fmt.ids("J", np.arange(len(jr), dtype=np.int64), 8),
                np.maximum(journey, 0),
                journey >= 0,
            ),
        }
    )
    journeys = _journey_table(jr, journey, ts_ms)
    jr.end_s = journeys["end_ms"].to_numpy() // 1000
    sessions = pa.table(
        {
            "session_id": fmt.ids("W", np.arange(n_ses), 9),
            "journey_id": fmt.nullify(fmt.ids("J", np.maximum(s_journey, 0), 8), s_journey >= 0),
            "true_intent": fmt.pick(INTENT_NAMES, s_intent),
        }
    )
    return Web(
        hits=hits.select(tables.HITS.names),
        truth=truth.select(tables.HITS_TRUTH.names),
        journeys=journeys,
        sessions=sessions,
        latent=jr,
        silent_churn_line=silent_line,
        silent_churn_s=silent_s,
    )


def _journey_table(jr: Journeys, hit_journey: IntArray, ts_ms: IntArray) -> pa.Table:
    n = len(jr)
    sel = hit_journey >= 0
    start = jr.start_s * 1000
    end = (jr.start_s + jr.span_s) * 1000
    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, -1, np.int64)
    np.minimum.at(first, hit_journey[sel], ts_ms[sel])
    np.maximum.at(last, hit_journey[sel], ts_ms[sel])
    seen = last >= 0
    start = np.where(seen, first, start)
    end = np.where(seen, last, end)
    # Placing a session can move it to the line's next connection: a churn (or would-be
    # churn) follows the last research hit by at least a few hours.
    churn = jr.intent == cat.INTENTS.index("churn_research")
    for times in (jr.outcome_s, jr.potential_s):
        late = churn & (times >= 0) & (times * 1000 <= end)
        times[late] = end[late] // 1000 + 4 * 3600
    high = np.isin(jr.intent, [cat.INTENTS.index(i) for i in cat.HIGH_INTENT])
    hh = jr.hh
    return pa.table(
        {
            "journey_id": fmt.ids("J", np.arange(n, dtype=np.int64), 8),
            "intent": fmt.pick(INTENT_NAMES, jr.intent),
            "account_id": account_ids(hh),
            "household_id": household_ids(hh),
            "line_id": fmt.nullify(line_ids(np.maximum(jr.line, 0)), jr.line >= 0),
            "subscriber_id": subscriber_ids(jr.sub),
            "start_ms": start,
            "end_ms": end,
            "high_intent": high,
            "outcome_ms": pa.array(jr.outcome_s * 1000, mask=jr.outcome_s < 0),
        },
        schema=tables.JOURNEYS,
    )
