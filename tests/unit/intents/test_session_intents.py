"""Session intents from hits (the pipeline stage) and their evaluation against truth."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from netcx.errors import InvalidInput
from netcx.services.intents import detect_session_intents, evaluate_intents, session_labels
from netcx.tables import HITS_TRUTH, SESSION_INTENTS
from tests.unit.intents.hits_factory import T0, hits_table


def _hits() -> pa.Table:
    return hits_table(
        [
            # s1: German churn research over two pages and a search
            {"session_id": "s1", "url": "https://www.example.de/", "title": "Startseite"},
            {"session_id": "s1", "url": "https://www.example.de/hilfe/vertrag", "title": "Vertrag"},
            {"session_id": "s1", "event_type": "search", "search_term": "Kündigungsfrist"},
            {"session_id": "s1", "url": "https://www.example.de/kuendigung", "title": "Kündigung"},
            # s2: English roaming in the app
            {"session_id": "s2", "channel": "app", "event_type": "screen", "url": "app://x/travel"},
            {
                "session_id": "s2",
                "channel": "app",
                "event_type": "screen",
                "url": "app://x/roaming",
            },
            # s3: nothing
            {"session_id": "s3", "url": "https://www.example.com/about", "title": "About us"},
            # s4: one weak signal only (a title): stays 'none' with its evidence
            {"session_id": "s4", "url": "https://www.example.com/x", "title": "Upgrade"},
            # s5: upgrade (a click, two pages) and tariff comparison (a page, a search)
            {"session_id": "s5", "event_type": "click", "title": "upgrade_start"},
            {"session_id": "s5", "url": "https://www.example.de/tarife", "title": "Tarife"},
            {"session_id": "s5", "url": "https://www.example.com/en/upgrade"},
            {"session_id": "s5", "event_type": "search", "search_term": "günstiger Tarif"},
            {"session_id": "s5", "url": "https://www.example.de/vertragsverlaengerung"},
        ]
    )


def test_each_session_gets_its_intents_with_evidence() -> None:
    out = detect_session_intents(_hits())
    assert out.schema == SESSION_INTENTS
    rows = {(r["session_id"], r["intent"]): r for r in out.to_pylist()}
    churn = rows[("s1", "churn_research")]
    assert churn["emerged_ms"] == T0 + 3 * 30_000  # the second signal crossed the threshold
    assert churn["first_signal_ms"] == T0 + 2 * 30_000
    evidence = json.loads(churn["evidence"])
    assert [e["ref"] for e in evidence] == ["3", "4"]
    assert evidence[0]["family"] == "search"
    assert rows[("s2", "roaming")]["emerged_ms"] == T0 + 5 * 30_000
    assert rows[("s2", "roaming")]["first_signal_ms"] == T0 + 4 * 30_000
    assert rows[("s3", "none")]["score"] == 0.0
    assert rows[("s3", "none")]["emerged_ms"] is None
    weak = rows[("s4", "none")]
    assert weak["score"] == pytest.approx(0.6)
    assert json.loads(weak["evidence"])[0]["rule"].startswith("upgrade.")
    assert {i for s, i in rows if s == "s5"} == {"upgrade", "tariff_comparison"}
    assert session_labels(out) == {
        "s1": "churn_research",
        "s2": "roaming",
        "s3": "none",
        "s4": "none",
        "s5": "upgrade",
    }


def test_empty_hits_give_an_empty_table() -> None:
    assert detect_session_intents(hits_table([])).num_rows == 0


def _truth(hits: pa.Table, labels: dict[str, str]) -> pa.Table:
    rows = [
        {"hit_id": h, "true_intent": labels[s], "attributable_level": "none"}
        for h, s in zip(hits["hit_id"].to_pylist(), hits["session_id"].to_pylist(), strict=True)
    ]
    return pa.Table.from_pylist(rows, schema=HITS_TRUTH)


def test_evaluation_scores_session_labels_against_truth() -> None:
    hits = _hits()
    intents = detect_session_intents(hits)
    perfect = {"s1": "churn_research", "s2": "roaming", "s3": "none", "s4": "none", "s5": "upgrade"}
    got = evaluate_intents(intents, _truth(hits, perfect), hits)
    assert got["intents.macro_f1"] == 1.0
    assert got["intents.accuracy"] == 1.0
    assert got["intents.sessions"] == 5
    # s4 was really an upgrade journey: upgrade recall drops to 1/2, precision stays 1
    wrong = {**perfect, "s4": "upgrade"}
    got = evaluate_intents(intents, _truth(hits, wrong), hits)
    assert got["intents.f1.upgrade"] == pytest.approx(2 / 3)
    assert got["intents.macro_f1"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert got["intents.accuracy"] == pytest.approx(4 / 5)


def test_evaluation_needs_a_way_from_hits_to_sessions() -> None:
    hits = _hits()
    truth = _truth(hits, dict.fromkeys(["s1", "s2", "s3", "s4", "s5"], "none"))
    with pytest.raises(InvalidInput, match="session_id"):
        evaluate_intents(detect_session_intents(hits), truth)
    with_sessions = truth.append_column("session_id", hits["session_id"])
    assert evaluate_intents(detect_session_intents(hits), with_sessions)["intents.sessions"] == 5
