"""The adapters over the identity and intents services, driven with stand-ins of the same
shape (the services themselves live in other areas)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import msgspec

from netcx.adapters.decisions.area_sources import IdentityRecognitionSource, ScoredIntentSource
from netcx.domain.decisions.context import RecognitionState, VisitEvent, VisitQuery
from tests.unit.decisions.helpers import NOW, line_visitor


class Level(StrEnum):
    ANONYMOUS = "anonymous"
    NETWORK_LINE = "network_line"


class Answer(msgspec.Struct, frozen=True):
    level: Level
    reason: str = ""
    confidence: float = 0.0
    ids: dict[str, str] = msgspec.field(default_factory=dict)


class Identity:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def recognise(
        self,
        visitor_id: str,
        ip: str,
        port: int | None,
        at_ms: int,
        purpose: str,
        user_id: str | None = None,
        caller: str = "collector",
    ) -> Answer:
        self.calls.append((visitor_id, ip, port, at_ms, purpose, caller))
        if visitor_id == "vi1_known":
            return Answer(
                Level.NETWORK_LINE,
                "port_block",
                0.97,
                {"line": "ln1_x", "household": "hh1_x", "account": "ac1_x"},
            )
        return Answer(Level.ANONYMOUS, "no_binding")

    def consent_view(self, subject_ref: str) -> dict[str, Any]:
        return {"purposes": {"personalisation": {"granted": True}, "marketing": None}}


def test_identity_recognition_maps_level_ids_and_consent() -> None:
    identity = Identity()
    source = IdentityRecognitionSource(identity)
    q = VisitQuery(
        at_ms=NOW, channel="web", visitor_id="vi1_known", client_ip="203.0.113.7", client_port=40001
    )
    rec = source.recognise(q)
    assert rec.state == RecognitionState.NETWORK_LINE and rec.level == "line"
    assert (rec.line_id, rec.household_id, rec.account_id) == ("ln1_x", "hh1_x", "ac1_x")
    assert rec.consent.personalisation and not rec.consent.marketing
    assert identity.calls == [("vi1_known", "203.0.113.7", 40001, NOW, "personalisation", "decide")]
    assert source.recognise(VisitQuery(at_ms=NOW, channel="web")).state == "anonymous"
    anon = source.recognise(VisitQuery(at_ms=NOW, channel="web", visitor_id="vi1_other"))
    assert anon.state == RecognitionState.ANONYMOUS and identity.calls[-1][1] == "0.0.0.0"


class Ev(msgspec.Struct):
    family: str
    value: str


class Active(msgspec.Struct):
    intent: str
    score: float
    emerged_ms: int
    evidence: list[Ev]


class Intents:
    def __init__(self) -> None:
        self.scored: list[tuple[Any, list[str]]] = []

    def score_event(self, signal: Any, subject_ids: Sequence[str]) -> list[Any]:
        self.scored.append((signal, list(subject_ids)))
        return []

    def active_intents(self, subject_ids: Sequence[str], at_ms: int) -> list[Active]:
        return [
            Active("fibre_availability", 2.5, NOW - 5, [Ev("url", "/fibre")]),  # household
            Active("fibre_availability", 1.5, NOW - 9, [Ev("search", "fibre")]),  # visitor
            Active("roaming", 1.6, NOW - 1, [Ev("url", "/roaming")]),
        ]


def test_scored_intents_score_the_event_for_visitor_line_and_household() -> None:
    intents = Intents()
    source = ScoredIntentSource(intents, lambda *args: args)
    q = VisitQuery(
        at_ms=NOW,
        channel="web",
        visitor_id="vi1_v",
        event=VisitEvent(type="page", url="/fibre/check", ts_ms=NOW - 2),
    )
    got = source.active_intents(q, line_visitor("ac1_a"))
    assert intents.scored == [
        ((NOW - 2, "web", "page", "/fibre/check", None, None), ["vi1_v", "ln1_ac1_a", "hh1_ac1_a"])
    ]
    assert [(a.name, a.score, a.evidence) for a in got] == [
        ("fibre_availability", 2.5, ("url:/fibre",)),
        ("roaming", 1.6, ("url:/roaming",)),
    ]
