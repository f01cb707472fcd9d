"""Intent use cases: load the taxonomy, detect session and household intents, score events."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from netcx.domain.intents.household import HouseholdJourney, household_journey
from netcx.domain.intents.matching import Matcher, Signal
from netcx.domain.intents.scoring import (
    ActiveIntent,
    Evidence,
    IntentEvent,
    IntentScorer,
    SubjectState,
)
from netcx.domain.intents.taxonomy import NONE_INTENT, Taxonomy, parse_taxonomy
from netcx.errors import ConfigError, InvalidInput
from netcx.ports import IntentStateStore
from netcx.tables import HOUSEHOLD_INTENTS, SESSION_INTENTS

DEFAULT_TAXONOMY = "default_taxonomy.yaml"


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The taxonomy in `path`, or the default one shipped with netcx; validated at load."""
    if path is None:
        source = f"netcx/domain/intents/{DEFAULT_TAXONOMY}"
        text = (
            resources.files("netcx.domain.intents")
            .joinpath(DEFAULT_TAXONOMY)
            .read_text(encoding="utf-8")
        )
    else:
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{source}: no such file")
        text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from err
    return parse_taxonomy(data, source)


def signal_from_hit(
    ts_ms: int,
    channel: str | None,
    event_type: str | None,
    url: str | None,
    title: str | None,
    search_term: str | None,
    ref: str = "",
) -> Signal:
    """What the taxonomy sees of one HITS row: app screens and click names get their family."""
    url, title = url or "", title or ""
    if channel == "app" and event_type == "screen":
        return Signal(ts_ms, screen=url, title=title, search_term=search_term or "", ref=ref)
    if event_type == "click":
        return Signal(ts_ms, url=url, event_name=title, search_term=search_term or "", ref=ref)
    return Signal(ts_ms, url=url, title=title, search_term=search_term or "", ref=ref)


_evidence_json = msgspec.json.Encoder()
_evidence_list = msgspec.json.Decoder(list[Evidence])


# ---------------------------------------------------------------- batch: sessions


def detect_session_intents(hits: pa.Table, taxonomy: Taxonomy | None = None) -> pa.Table:
    """SESSION_INTENTS: one row per intent that emerged in a session, or one 'none' row.

    A 'none' row carries the best sub-threshold score and its evidence, emerged_ms null.
    """
    taxonomy = taxonomy or load_taxonomy()
    matcher, scorer = Matcher(taxonomy), IntentScorer(taxonomy)
    cols = hits.select(
        ["hit_id", "ts_ms", "session_id", "channel", "event_type", "url", "title", "search_term"]
    )
    order = pc.sort_indices(
        cols,
        sort_keys=[("session_id", "ascending"), ("ts_ms", "ascending"), ("hit_id", "ascending")],
    )
    rows = cols.take(order).to_pydict()
    out: dict[str, list[Any]] = {name: [] for name in SESSION_INTENTS.names}
    session: str | None = None
    state: SubjectState | None = None
    last_ms = 0
    for i, sid in enumerate(rows["session_id"]):
        if sid != session:
            if session is not None:
                _emit_session(out, scorer, session, state, last_ms)
            session, state = sid, None
        last_ms = rows["ts_ms"][i]
        signal = signal_from_hit(
            last_ms,
            rows["channel"][i],
            rows["event_type"][i],
            rows["url"][i],
            rows["title"][i],
            rows["search_term"][i],
            ref=str(rows["hit_id"][i]),
        )
        matches = matcher.match(signal)
        if matches:
            state, _ = scorer.observe(sid, state, matches, last_ms, ref=signal.ref)
    if session is not None:
        _emit_session(out, scorer, session, state, last_ms)
    return pa.table(out, schema=SESSION_INTENTS)


def _emit_session(
    out: dict[str, list[Any]],
    scorer: IntentScorer,
    session_id: str,
    state: SubjectState | None,
    end_ms: int,
) -> None:
    emerged = []
    best: tuple[float, str] | None = None
    for intent, s in (state.intents if state else {}).items():
        score = scorer.score_at(state, intent, end_ms) if state else 0.0
        if s.emerged_ms is not None:
            emerged.append((intent, s, max(score, scorer.taxonomy.threshold)))
        elif best is None or score > best[0]:
            best = (score, intent)
    if emerged:
        for intent, s, score in sorted(emerged, key=lambda e: -e[2]):
            _append(out, session_id, intent, score, s.emerged_ms, s.first_signal_ms, s.evidence)
        return
    if best is None or state is None:
        _append(out, session_id, NONE_INTENT, 0.0, None, None, ())
        return
    s = state.intents[best[1]]
    evidence = [msgspec.structs.replace(e, intent=best[1]) for e in s.evidence]
    _append(out, session_id, NONE_INTENT, best[0], None, s.first_signal_ms, evidence)


def _append(
    out: dict[str, list[Any]],
    session_id: str,
    intent: str,
    score: float,
    emerged_ms: int | None,
    first_signal_ms: int | None,
    evidence: Sequence[Evidence],
) -> None:
    out["session_id"].append(session_id)
    out["intent"].append(intent)
    out["score"].append(float(score))
    out["emerged_ms"].append(emerged_ms)
    out["first_signal_ms"].append(first_signal_ms)
    out["evidence"].append(_evidence_json.encode(list(evidence)).decode())


def session_labels(session_intents: pa.Table) -> dict[str, str]:
    """The one intent each session is labelled with: its strongest emerged intent, or 'none'."""
    best: dict[str, tuple[float, str]] = {}
    data = session_intents.select(["session_id", "intent", "score", "emerged_ms"]).to_pydict()
    for sid, intent, score, emerged in zip(
        data["session_id"], data["intent"], data["score"], data["emerged_ms"], strict=True
    ):
        label = intent if emerged is not None else NONE_INTENT
        rank = score if emerged is not None else -1.0
        if sid not in best or rank > best[sid][0]:
            best[sid] = (rank, label)
    return {sid: label for sid, (_, label) in best.items()}


# ---------------------------------------------------------------- batch: households


def detect_household_intents(
    session_intents: pa.Table, session_identity: pa.Table, taxonomy: Taxonomy | None = None
) -> pa.Table:
    """HOUSEHOLD_INTENTS: the sessions of all members of a household scored as one journey.

    Session evidence is replayed in time order into one household state, so a partner
    checking fibre and another checking cancellation make one household with both intents,
    and weak signals from two members can add up to an intent neither showed alone.
    """
    taxonomy = taxonomy or load_taxonomy()
    scorer = IntentScorer(taxonomy)
    ident = session_identity.select(["session_id", "visitor_id", "line_id", "household_id"])
    member_of: dict[str, tuple[str, str]] = {}
    for sid, visitor, line, hh in zip(*ident.to_pydict().values(), strict=True):
        if hh is not None:
            member_of[sid] = (hh, line or visitor or sid)
    signals: dict[str, list[tuple[str, float, Evidence, str]]] = defaultdict(list)
    data = session_intents.select(["session_id", "intent", "evidence"]).to_pydict()
    for sid, intent, evidence in zip(*data.values(), strict=True):
        if sid not in member_of:
            continue
        hh, member = member_of[sid]
        for ev in _evidence_list.decode(evidence):
            # a 'none' row carries the sub-threshold signals of its strongest intent
            of = ev.intent or intent
            if of in taxonomy.intents:
                signals[hh].append((of, ev.weight, msgspec.structs.replace(ev, source=member), sid))
    out: dict[str, list[Any]] = {name: [] for name in HOUSEHOLD_INTENTS.names}
    for hh in sorted(signals):
        items = sorted(signals[hh], key=lambda x: (x[2].ts_ms, x[0]))
        state: SubjectState | None = None
        sessions_of: dict[str, dict[str, None]] = defaultdict(dict)
        for intent, weight, ev, sid in items:
            sessions_of[intent][sid] = None
            state, events = scorer.add(hh, state, [(intent, weight, ev)])
            for event in events:
                _append_household(out, event, state, list(sessions_of[intent]))
    return pa.table(out, schema=HOUSEHOLD_INTENTS)


def _append_household(
    out: dict[str, list[Any]], event: IntentEvent, state: SubjectState, sessions: list[str]
) -> None:
    s = state.intents[event.intent]
    out["household_id"].append(event.subject_id)
    out["intent"].append(event.intent)
    out["score"].append(event.score)
    out["emerged_ms"].append(event.emerged_ms)
    out["first_signal_ms"].append(event.first_signal_ms)
    out["last_signal_ms"].append(s.last_signal_ms)
    out["members"].append(json.dumps(list(dict.fromkeys(e.source for e in event.evidence))))
    out["sessions"].append(json.dumps(sessions))
    out["evidence"].append(_evidence_json.encode(list(event.evidence)).decode())


def household_journeys(household_intents: pa.Table) -> list[dict[str, Any]]:
    """Group HOUSEHOLD_INTENTS into one journey per household: its intents and members."""
    journeys: dict[str, dict[str, Any]] = {}
    for row in household_intents.to_pylist():
        j = journeys.setdefault(
            row["household_id"],
            {"household_id": row["household_id"], "intents": [], "members": []},
        )
        j["intents"].append(row["intent"])
        j["members"] = list(dict.fromkeys([*j["members"], *json.loads(row["members"])]))
        j["started_ms"] = min(j.get("started_ms", row["first_signal_ms"]), row["first_signal_ms"])
    return list(journeys.values())


# ---------------------------------------------------------------- evaluation against truth


def evaluate_intents(
    session_intents: pa.Table, truth_hits: pa.Table, hits: pa.Table | None = None
) -> dict[str, float]:
    """F1 per intent and macro F1 of session labels against the simulator's latent intents.

    Truth hits name a latent intent per hit; sessions come from `truth_hits.session_id` if
    present, else from `hits` (web/hits: hit_id → session_id). Macro F1 averages the
    intents that occur in the truth (not 'none'); 'none' gets its own F1 key.
    """
    if "session_id" in truth_hits.column_names:
        pairs = truth_hits.select(["session_id", "true_intent"]).to_pydict()
        sessions, intents = pairs["session_id"], pairs["true_intent"]
    elif hits is not None:
        session_of = dict(
            zip(
                hits.column("hit_id").to_pylist(),
                hits.column("session_id").to_pylist(),
                strict=True,
            )
        )
        ids = truth_hits.column("hit_id").to_pylist()
        sessions = [session_of.get(h) for h in ids]
        intents = truth_hits.column("true_intent").to_pylist()
    else:
        raise InvalidInput(
            "evaluate_intents: truth_hits has no session_id column; pass hits= (web/hits) "
            "to map hit_id to session_id"
        )
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for sid, intent in zip(sessions, intents, strict=True):
        if sid is not None:
            votes[sid][intent or NONE_INTENT] += 1
    truth = {sid: c.most_common(1)[0][0] for sid, c in votes.items()}
    predicted = session_labels(session_intents)
    labels = sorted({*truth.values(), *predicted.values()})
    result: dict[str, float] = {}
    f1s = []
    for label in labels:
        tp = sum(1 for sid, t in truth.items() if t == label and predicted.get(sid) == label)
        fp = sum(1 for sid, p in predicted.items() if p == label and truth.get(sid) != label)
        fn = sum(1 for sid, t in truth.items() if t == label and predicted.get(sid) != label)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        result[f"intents.f1.{label}"] = f1
        if label != NONE_INTENT and label in truth.values():
            f1s.append(f1)
    result["intents.macro_f1"] = sum(f1s) / len(f1s) if f1s else 0.0
    agree = sum(1 for sid, t in truth.items() if predicted.get(sid, NONE_INTENT) == t)
    result["intents.accuracy"] = agree / len(truth) if truth else 0.0
    result["intents.sessions"] = float(len(truth))
    return result


# ---------------------------------------------------------------- real time


class IntentService:
    """Real-time scoring of single events into shared per-subject state (IntentSource)."""

    def __init__(self, taxonomy: Taxonomy, store: IntentStateStore) -> None:
        self.taxonomy = taxonomy
        self.store = store
        self._matcher = Matcher(taxonomy)
        self._scorer = IntentScorer(taxonomy)

    def score_event(
        self, signal: Signal, subject_ids: Sequence[str], source: str | None = None
    ) -> list[IntentEvent]:
        """Score one event for each subject it belongs to (e.g. visitor, line, household).

        `source` (default: the first subject) is recorded in the evidence, so a household's
        intents say which member's pages they came from. Returns the intents that emerged.
        """
        matches = self._matcher.match(signal)
        if not matches:
            return []
        origin = source if source is not None else (subject_ids[0] if subject_ids else "")
        emitted: list[IntentEvent] = []
        for subject in subject_ids:
            box: list[IntentEvent] = []

            def change(
                state: SubjectState | None, subject: str = subject, box: list[IntentEvent] = box
            ) -> SubjectState:
                new, events = self._scorer.observe(
                    subject, state, matches, signal.ts_ms, source=origin, ref=signal.ref
                )
                box[:] = events  # the last (stored) run's events are the true ones
                return new

            self.store.update(subject, change)
            emitted.extend(box)
        return emitted

    def active_intents(self, subject_ids: Sequence[str], at_ms: int) -> list[ActiveIntent]:
        states = self.store.get_many(subject_ids)
        out = [
            a
            for sid in subject_ids
            if sid in states
            for a in self._scorer.active(sid, states[sid], at_ms)
        ]
        out.sort(key=lambda a: -a.score)
        return out

    def household_journey(self, household_id: str, at_ms: int) -> HouseholdJourney | None:
        """The household's active intents with the members (sources) behind them."""
        state = self.store.get_many([household_id]).get(household_id)
        if state is None:
            return None
        return household_journey(self._scorer, household_id, state, at_ms)

    def forget(self, subject_ids: Iterable[str]) -> int:
        """Erase the scorer state of subjects; returns how many had one."""
        return sum(self.store.delete(s) for s in subject_ids)
