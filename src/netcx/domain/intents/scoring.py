"""Stateful intent scoring: decayed scores per subject, emergence at a threshold, evidence.

A subject is anything signals accumulate on: a session, a visitor, a line or a household.
Every function here is pure; the caller passes the time (`at_ms`) and stores the state.

The score of an intent at time t is  Σ wᵢ · 2^(−(t − tᵢ)/half_life)  over its signals
(wᵢ at tᵢ ≤ t): additive, order-independent, bounded by Σ wᵢ and non-increasing between
signals. An intent *emerges* when the score reaches the taxonomy threshold and stays
active until it decays below threshold × active_ratio (hysteresis, so it does not flicker).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from netcx.domain.intents.matching import Match
from netcx.domain.intents.taxonomy import Taxonomy

_FRESH_RATIO = 0.01
"""Below threshold × this, an intent's history is forgotten: the next signal starts a new
journey (new first_signal_ms, new evidence)."""


class Evidence(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One event that added to an intent's score.

    Scorer state (Evidence, IntentScore, SubjectState) holds only scalars, strings and
    tuples/dicts of them — it can never be part of a reference cycle — so it is not tracked
    by Python's cycle collector (`gc=False`): busy subjects' states hold dozens of evidence
    items, and a process keeping many of them (the stores' decoded-state cache, the memory
    store) otherwise paid for them in every collection (collector batches: 35 → 30 µs per
    event)."""

    ts_ms: int
    family: str
    rule: str
    value: str
    weight: float
    source: str = ""  # subject whose event it was (line / visitor / session pseudonym)
    ref: str = ""  # hit or event id
    intent: str = ""  # set in exports where the intent is not implied (e.g. 'none' rows)
    topic: str = ""  # the rule's facet of the intent, if it has one


_NO_EVIDENCE = msgspec.Raw(b"\x90")  # msgpack's empty array
_encoder = msgspec.msgpack.Encoder()
_evidence_decoder = msgspec.msgpack.Decoder(tuple[Evidence, ...])
_items_decoder = msgspec.msgpack.Decoder(list[msgspec.Raw])


class _At(msgspec.Struct):
    ts_ms: int


_at_decoder = msgspec.msgpack.Decoder(_At)
_times_decoder = msgspec.msgpack.Decoder(list[_At])


class IntentScore(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """An intent's score as of `updated_ms` (decay it to read it at another time).

    Its evidence is kept encoded (`evidence_msgpack`: the msgpack array of the `Evidence`
    items, oldest first, stored under the name `evidence`) and decoded when read
    (`evidence`). Scoring appends to it and stores it without ever building the items: a
    busy subject's state holds dozens of them, and as objects (each with its strings and
    numbers) they were most of the memory an event's scoring and state encoding touched,
    out of the CPU's caches by the time the subject's next event came."""

    score: float
    updated_ms: int
    first_signal_ms: int
    last_signal_ms: int
    emerged_ms: int | None = None  # set while the intent is active
    evidence_msgpack: msgspec.Raw = msgspec.field(default=_NO_EVIDENCE, name="evidence")

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        """The evidence items, oldest first (decoded on each call)."""
        return _evidence_decoder.decode(self.evidence_msgpack)


def intents_view(state: SubjectState) -> dict[str, Any]:
    """`state`'s intents as plain data (JSON-ready), their evidence decoded."""
    return {
        name: msgspec.to_builtins(score, enc_hook=_evidence_view)
        for name, score in state.intents.items()
    }


def _evidence_view(value: Any) -> Any:
    if isinstance(value, msgspec.Raw):
        return msgspec.to_builtins(_evidence_decoder.decode(value))
    raise NotImplementedError(f"{type(value).__name__} in an intent state")


def encode_evidence(items: Iterable[Evidence]) -> msgspec.Raw:
    """The encoded form `IntentScore.evidence_msgpack` holds."""
    return msgspec.Raw(_encoder.encode(list(items)))


class SubjectState(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """Everything the scorer keeps about one subject.

    `applied` is the bus intent worker's ledger: the keys of the latest events it scored
    into this state, stored with it in one write, so a redelivered event is not counted twice.
    """

    intents: dict[str, IntentScore] = msgspec.field(default_factory=dict)
    applied: tuple[str, ...] = ()


class IntentEvent(msgspec.Struct, frozen=True):
    """Emitted once when an intent emerges for a subject."""

    subject_id: str
    intent: str
    score: float
    emerged_ms: int
    first_signal_ms: int
    evidence: tuple[Evidence, ...]


class ActiveIntent(msgspec.Struct, frozen=True):
    """An emerged intent as read at `at_ms`, with its decayed score and evidence."""

    subject_id: str
    intent: str
    score: float
    at_ms: int
    emerged_ms: int
    first_signal_ms: int
    last_signal_ms: int
    evidence: tuple[Evidence, ...]
    sources: tuple[str, ...] = ()  # distinct subjects behind the evidence


def decay(score: float, from_ms: int, to_ms: int, half_life_s: float) -> float:
    """`score` at `from_ms` read at `to_ms` (never grows: reading the past returns it as is)."""
    if to_ms <= from_ms:
        return score
    return float(score * 2.0 ** (-(to_ms - from_ms) / (half_life_s * 1000.0)))


class IntentScorer:
    """Applies matches to subject states under one taxonomy."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._half_life = {name: d.half_life_s for name, d in taxonomy.intents.items()}
        self._threshold = taxonomy.threshold
        self._active_floor = taxonomy.threshold * taxonomy.active_ratio
        self._fresh_floor = taxonomy.threshold * _FRESH_RATIO

    def observe(
        self,
        subject_id: str,
        state: SubjectState | None,
        matches: Sequence[Match],
        at_ms: int,
        *,
        source: str = "",
        ref: str = "",
    ) -> tuple[SubjectState, list[IntentEvent]]:
        """Add one event's matches at `at_ms`; return the new state and emergence events."""
        return self.observe_many(subject_id, state, [(matches, at_ms, source, ref)])

    def observe_many(
        self,
        subject_id: str,
        state: SubjectState | None,
        observations: Iterable[tuple[Sequence[Match], int, str, str]],
    ) -> tuple[SubjectState, list[IntentEvent]]:
        """`observe` each (matches, at_ms, source, ref) in turn, as one `add`: the state of a
        visit's events in one group is built once, not once per event."""
        return self.add(
            subject_id,
            state,
            [
                (
                    m.intent,
                    m.weight,
                    Evidence(
                        ts_ms=at_ms,
                        family=m.family.value,
                        rule=m.rule_id,
                        value=m.value,
                        weight=m.weight,
                        source=source,
                        ref=ref,
                        topic=m.topic,
                    ),
                )
                for matches, at_ms, source, ref in observations
                for m in matches
            ],
        )

    def add(
        self,
        subject_id: str,
        state: SubjectState | None,
        signals: Iterable[tuple[str, float, Evidence]],
    ) -> tuple[SubjectState, list[IntentEvent]]:
        """Add weighted signals (intent, weight, evidence at evidence.ts_ms).

        Scores change signal by signal; each intent's encoded evidence is extended once, at
        the end, with the items its signals brought (the same items as adding them one
        at a time: the latest `max_evidence` in time order, ties in arrival order)."""
        intents = dict(state.intents) if state is not None else {}
        events: list[IntentEvent] = []
        limit = self.taxonomy.max_evidence
        # intent → (the encoded evidence its new items extend, the new items)
        extended: dict[str, tuple[msgspec.Raw, list[Evidence]]] = {}
        for intent, weight, ev in signals:
            half_life = self._half_life[intent]
            at_ms = ev.ts_ms
            prev = intents.get(intent)
            if prev is not None and decay(prev.score, prev.updated_ms, at_ms, half_life) < (
                self._fresh_floor
            ):
                prev = None
            if prev is None:
                extended[intent] = (_NO_EVIDENCE, [ev])
                new = IntentScore(
                    score=weight,
                    updated_ms=at_ms,
                    first_signal_ms=at_ms,
                    last_signal_ms=at_ms,
                )
            else:
                if intent in extended:
                    extended[intent][1].append(ev)
                else:
                    extended[intent] = (prev.evidence_msgpack, [ev])
                if at_ms >= prev.updated_ms:
                    before = decay(prev.score, prev.updated_ms, at_ms, half_life)
                    score, updated = before + weight, at_ms
                else:  # a late event: its weight, decayed to the state's time
                    before = prev.score
                    score = before + decay(weight, at_ms, prev.updated_ms, half_life)
                    updated = prev.updated_ms
                emerged = prev.emerged_ms
                if emerged is not None and before < self._active_floor:
                    emerged = None
                new = IntentScore(
                    score=score,
                    updated_ms=updated,
                    first_signal_ms=min(prev.first_signal_ms, at_ms),
                    last_signal_ms=max(prev.last_signal_ms, at_ms),
                    emerged_ms=emerged,
                )
            if new.emerged_ms is None and new.score >= self._threshold:
                new = msgspec.structs.replace(new, emerged_ms=at_ms)
                events.append(
                    IntentEvent(
                        subject_id=subject_id,
                        intent=intent,
                        score=new.score,
                        emerged_ms=at_ms,
                        first_signal_ms=new.first_signal_ms,
                        # decoded: an intent emerges rarely
                        evidence=_evidence_decoder.decode(_latest(*extended[intent], limit)),
                    )
                )
            intents[intent] = new
        for intent, (evidence, added) in extended.items():
            intents[intent] = msgspec.structs.replace(
                intents[intent], evidence_msgpack=_latest(evidence, added, limit)
            )
        return SubjectState(intents=intents, applied=state.applied if state else ()), events

    def score_at(self, state: SubjectState, intent: str, at_ms: int) -> float:
        """The decayed score of `intent` at `at_ms` (0 when never signalled)."""
        s = state.intents.get(intent)
        if s is None:
            return 0.0
        return decay(s.score, s.updated_ms, at_ms, self._half_life[intent])

    def active(self, subject_id: str, state: SubjectState, at_ms: int) -> list[ActiveIntent]:
        """Emerged intents still above the active floor at `at_ms`, strongest first."""
        out = []
        for intent, s in state.intents.items():
            if s.emerged_ms is None:
                continue
            score = decay(s.score, s.updated_ms, at_ms, self._half_life[intent])
            if score < self._active_floor:
                continue
            out.append(
                ActiveIntent(
                    subject_id=subject_id,
                    intent=intent,
                    score=score,
                    at_ms=at_ms,
                    emerged_ms=s.emerged_ms,
                    first_signal_ms=s.first_signal_ms,
                    last_signal_ms=s.last_signal_ms,
                    evidence=(evidence := s.evidence),
                    sources=_sources(evidence),
                )
            )
        out.sort(key=lambda a: -a.score)
        return out

    def combine(self, states: Mapping[str, SubjectState]) -> SubjectState:
        """One state whose scores are the sums of the members' (e.g. a household's lines).

        Because scores are additive, this equals the state that would have seen every
        member's signals; an intent is emerged when any member's is or the sum crosses.
        """
        merged: dict[str, IntentScore] = {}
        for state in states.values():
            for intent, s in state.intents.items():
                prev = merged.get(intent)
                if prev is None:
                    merged[intent] = s
                    continue
                half_life = self._half_life[intent]
                updated = max(prev.updated_ms, s.updated_ms)
                score = decay(prev.score, prev.updated_ms, updated, half_life) + decay(
                    s.score, s.updated_ms, updated, half_life
                )
                emerged = [e for e in (prev.emerged_ms, s.emerged_ms) if e is not None]
                evidence = tuple(sorted((*prev.evidence, *s.evidence), key=lambda e: e.ts_ms))[
                    -self.taxonomy.max_evidence :
                ]
                merged[intent] = IntentScore(
                    score=score,
                    updated_ms=updated,
                    first_signal_ms=min(prev.first_signal_ms, s.first_signal_ms),
                    last_signal_ms=max(prev.last_signal_ms, s.last_signal_ms),
                    emerged_ms=min(emerged)
                    if emerged
                    else (updated if score >= self._threshold else None),
                    evidence_msgpack=encode_evidence(evidence),
                )
        return SubjectState(intents=merged)


def _latest(evidence: msgspec.Raw, added: Sequence[Evidence], limit: int) -> msgspec.Raw:
    """The latest `limit` of the encoded `evidence` (in time order) and the `added` items,
    in time order, ties in arrival order: the encoded items' bytes are copied, never
    decoded (only their times, when an added item is older than one before it)."""
    items = _items_decoder.decode(evidence) if evidence is not _NO_EVIDENCE else []
    last = _at_decoder.decode(items[-1]).ts_ms if items else None
    in_order = True
    for ev in added:
        if last is not None and ev.ts_ms < last:
            in_order = False
        last = ev.ts_ms if last is None else max(last, ev.ts_ms)
        items.append(msgspec.Raw(_encoder.encode(ev)))
    if not in_order:  # a late event: a stable sort by time
        times = (
            [at.ts_ms for at in _times_decoder.decode(evidence)] if len(items) > len(added) else []
        )
        times += [ev.ts_ms for ev in added]
        items = [items[i] for i in sorted(range(len(items)), key=times.__getitem__)]
    return msgspec.Raw(_encoder.encode(items[-limit:]))


def _sources(evidence: Iterable[Evidence]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e.source for e in evidence if e.source))
