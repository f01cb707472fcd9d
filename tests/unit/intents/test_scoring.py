"""The decayed scorer: emergence, hysteresis, evidence, and the decay laws (property tests)."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from netcx.domain.intents.matching import Matcher, Signal
from netcx.domain.intents.scoring import (
    Evidence,
    IntentScorer,
    SubjectState,
    decay,
    encode_evidence,
)
from netcx.domain.intents.taxonomy import Taxonomy

HOUR = 3_600_000
DAY = 24 * HOUR
half_lives = st.floats(min_value=1.0, max_value=1e7)
times = st.integers(min_value=0, max_value=10**12)
durations = st.integers(min_value=0, max_value=10**10)
scores = st.floats(min_value=0.0, max_value=1e6)


@given(scores, times, durations, durations, half_lives)
def test_decay_is_monotone_in_time(s: float, t0: int, d1: int, d2: int, hl: float) -> None:
    early, late = sorted((d1, d2))
    assert decay(s, t0, t0 + late, hl) <= decay(s, t0, t0 + early, hl)


@given(scores, times, durations, half_lives)
def test_decay_is_bounded(s: float, t0: int, d: int, hl: float) -> None:
    assert 0.0 <= decay(s, t0, t0 + d, hl) <= s
    # reading before the last update never makes a score grow
    assert decay(s, t0, t0 - d, hl) == s


@given(scores, scores, times, durations, half_lives)
def test_decay_is_additive(a: float, b: float, t0: int, d: int, hl: float) -> None:
    assert math.isclose(
        decay(a + b, t0, t0 + d, hl),
        decay(a, t0, t0 + d, hl) + decay(b, t0, t0 + d, hl),
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


@given(scores, times, durations, durations, half_lives)
def test_decay_composes(s: float, t0: int, d1: int, d2: int, hl: float) -> None:
    two_steps = decay(decay(s, t0, t0 + d1, hl), t0 + d1, t0 + d1 + d2, hl)
    assert math.isclose(two_steps, decay(s, t0, t0 + d1 + d2, hl), rel_tol=1e-9, abs_tol=1e-12)


def _ev(ts: int, w: float) -> Evidence:
    return Evidence(ts_ms=ts, family="path", rule="r", value="/x", weight=w)


signals = st.lists(
    st.tuples(st.integers(min_value=0, max_value=30 * DAY), st.floats(0.05, 2.0)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60)
@given(signals, st.randoms(use_true_random=False))
def test_scorer_score_is_the_sum_of_decayed_signals_in_any_order(
    scorer: IntentScorer, sigs: list[tuple[int, float]], rnd: object
) -> None:
    hl = scorer.taxonomy.intents["churn_research"].half_life_s
    end = max(t for t, _ in sigs)
    expected = sum(decay(w, t, end, hl) for t, w in sigs)
    shuffled = list(sigs)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    for order in (sorted(sigs), shuffled):
        state: SubjectState | None = None
        for t, w in order:
            state, _ = scorer.add("v", state, [("churn_research", w, _ev(t, w))])
        assert state is not None
        got = scorer.score_at(state, "churn_research", end)
        # a history that decayed to ~0 is forgotten (a new journey), so allow that much
        assert got <= expected + 1e-9
        assert got >= expected - scorer.taxonomy.threshold * 0.011 * len(sigs)
        assert got <= sum(w for _, w in sigs) + 1e-9


PAGES = [
    "https://example.de/kuendigung", "https://example.de/roaming", "https://example.de/stoerung",
    "https://example.de/tarife/vergleich", "https://example.de/glasfaser", "https://example.de/",
]  # fmt: skip


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.sampled_from(PAGES), st.integers(min_value=0, max_value=40 * DAY)),
        min_size=1,
        max_size=30,
    )
)
def test_observing_a_group_at_once_equals_observing_its_events_in_turn(
    matcher: Matcher, scorer: IntentScorer, visits: list[tuple[str, int]]
) -> None:
    """`observe_many` (a visit's events of one group) builds the very state, and emits the
    very emergence events, that observing each event in turn does — late events, evidence
    past its limit and forgotten journeys included."""
    seen = [
        (matcher.match(Signal(at, url=url)), at, f"vi_{n % 3}", f"h{n}")
        for n, (url, at) in enumerate(visits)
    ]
    state: SubjectState | None = None
    emerged = []
    for matches, at, source, ref in seen:
        state, events = scorer.observe("v", state, matches, at, source=source, ref=ref)
        emerged += events
    half = len(seen) // 2
    first, early = scorer.observe_many("v", None, seen[:half])
    assert scorer.observe_many("v", first, seen[half:]) == (state, emerged[len(early) :])
    assert early == emerged[: len(early)]


def _kept_one_at_a_time(items: list[Evidence], limit: int) -> tuple[Evidence, ...]:
    """The evidence rule as a fold over items (the reference): append; a late item (older
    than the last kept) re-sorts by time, stably; keep the latest `limit`."""
    kept: tuple[Evidence, ...] = ()
    for ev in items:
        out = (*kept, ev)
        if kept and ev.ts_ms < kept[-1].ts_ms:
            out = tuple(sorted(out, key=lambda e: e.ts_ms))
        kept = out[-limit:]
    return kept


@settings(max_examples=80)
@given(
    st.lists(st.integers(min_value=0, max_value=HOUR // 1000), min_size=1, max_size=40),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40),
    st.sampled_from([1, 12, 20]),  # 20: the encoded array's header grows past 15 items
)
@example(seconds=list(range(15)), group_sizes=[1], limit=20)  # the last one-byte header
@example(seconds=list(range(16)), group_sizes=[1], limit=20)  # the first three-byte one
def test_encoded_evidence_keeps_what_adding_items_one_at_a_time_keeps(
    taxonomy: Taxonomy, seconds: list[int], group_sizes: list[int], limit: int
) -> None:
    """Evidence is kept encoded and extended once per `add`: whatever the grouping, the
    kept items are those of the reference fold — the latest `max_evidence` in time order,
    ties in arrival order — including late items and items past the limit."""
    scorer = IntentScorer(dataclasses.replace(taxonomy, max_evidence=limit))
    items = [
        Evidence(ts_ms=t * 1000, family="path", rule="r", value="/roaming", weight=1.0, ref=f"h{n}")
        for n, t in enumerate(seconds)
    ]
    state: SubjectState | None = None
    done, sizes = 0, iter(group_sizes * len(items))
    while done < len(items):
        group = items[done : done + next(sizes)]
        state, _ = scorer.add("v", state, [("roaming", 1.0, ev) for ev in group])
        done += len(group)
    assert state is not None
    kept = state.intents["roaming"].evidence
    assert kept == _kept_one_at_a_time(items, scorer.taxonomy.max_evidence)
    # the bytes are msgpack's own encoding of those items (what the stores compare)
    assert state.intents["roaming"].evidence_msgpack == encode_evidence(kept)
    assert [e.ts_ms for e in kept] == sorted(e.ts_ms for e in kept)


def test_intent_emerges_once_at_the_threshold_with_its_evidence(
    matcher: Matcher, scorer: IntentScorer
) -> None:
    title_only = Signal(1000, title="Kündigung", ref="h1")  # weight 0.6: below threshold
    page = Signal(61_000, url="https://example.de/kuendigung", ref="h2")
    state, events = scorer.observe("v1", None, matcher.match(title_only), 1000, ref="h1")
    assert events == []
    assert scorer.active("v1", state, 1000) == []
    state, events = scorer.observe("v1", state, matcher.match(page), 61_000, ref="h2")
    [ev] = events
    assert ev.intent == "churn_research"
    assert ev.emerged_ms == 61_000
    assert ev.first_signal_ms == 1000
    assert [e.ref for e in ev.evidence] == ["h1", "h2"]
    assert ev.score > scorer.taxonomy.threshold
    # more signals keep it active without emitting again
    state, events = scorer.observe("v1", state, matcher.match(page), 62_000, ref="h3")
    assert events == []
    [active] = scorer.active("v1", state, 62_000)
    assert active.intent == "churn_research"
    assert active.emerged_ms == 61_000


def test_an_intent_fades_and_can_emerge_again_as_a_new_journey(
    matcher: Matcher, scorer: IntentScorer
) -> None:
    page = Signal(0, url="https://example.de/stoerung")
    outage_hl_ms = int(scorer.taxonomy.intents["outage"].half_life_s * 1000)
    state, _ = scorer.observe("v", None, matcher.match(page), 0)
    state, events = scorer.observe("v", state, matcher.match(page), 1000)
    assert [e.intent for e in events] == ["outage"]
    assert scorer.active("v", state, outage_hl_ms)  # 1.0 ≥ 0.75 active floor
    assert scorer.active("v", state, 2 * outage_hl_ms) == []  # 0.5 < 0.75
    later = 20 * outage_hl_ms
    state, events = scorer.observe("v", state, matcher.match(page), later)
    assert events == []  # one page of a new journey is not enough
    state, events = scorer.observe("v", state, matcher.match(page), later + 1000)
    [ev] = events
    assert ev.first_signal_ms == later  # the old journey was forgotten
    assert len(ev.evidence) == 2


def test_evidence_is_capped_to_the_latest(matcher: Matcher, scorer: IntentScorer) -> None:
    state = None
    page = Signal(0, url="https://example.de/roaming")
    for i in range(40):
        state, _ = scorer.observe("v", state, matcher.match(page), i * 1000, ref=str(i))
    assert state is not None
    ev = state.intents["roaming"].evidence
    assert len(ev) == scorer.taxonomy.max_evidence
    assert ev[-1].ref == "39"


def test_combined_states_add_up(scorer: IntentScorer, taxonomy: Taxonomy) -> None:
    a, _ = scorer.add("l1", None, [("fibre_availability", 0.8, _ev(0, 0.8))])
    b, _ = scorer.add("l2", None, [("fibre_availability", 0.8, _ev(HOUR, 0.8))])
    both = scorer.combine({"l1": a, "l2": b})
    hl = taxonomy.intents["fibre_availability"].half_life_s
    assert math.isclose(
        scorer.score_at(both, "fibre_availability", HOUR), decay(0.8, 0, HOUR, hl) + 0.8
    )
    # neither line alone crossed the threshold; the household did
    assert scorer.active("l1", a, HOUR) == []
    assert [x.intent for x in scorer.active("hh", both, HOUR)] == ["fibre_availability"]


members = st.lists(
    st.tuples(
        st.sampled_from(["ln_a", "ln_b", "vi_c"]),
        st.sampled_from(["churn_research", "fibre_availability"]),
        st.integers(min_value=0, max_value=3 * DAY),
        st.floats(0.1, 1.0),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60)
@given(members)
def test_household_of_members_equals_one_state_fed_everything(
    scorer: IntentScorer, signals: list[tuple[str, str, int, float]]
) -> None:
    """Combining members' states gives the scores of one state that saw every signal."""
    end = max(t for *_, t, _ in signals)
    per_member: dict[str, SubjectState] = {}
    household: SubjectState | None = None
    for member, intent, t, w in sorted(signals, key=lambda s: s[2]):
        ev = _ev(t, w)
        per_member[member], _ = scorer.add(member, per_member.get(member), [(intent, w, ev)])
        household, _ = scorer.add("hh", household, [(intent, w, ev)])
    assert household is not None
    combined = scorer.combine(per_member)
    for intent in ("churn_research", "fibre_availability"):
        direct = scorer.score_at(household, intent, end)
        summed = scorer.score_at(combined, intent, end)
        # forgetting a faded journey (< 1 % of threshold) may differ per member vs household
        assert math.isclose(direct, summed, abs_tol=scorer.taxonomy.threshold * 0.011 * 3)
