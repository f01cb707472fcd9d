"""A partner checking fibre and another checking cancellation are one household journey."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from netcx.services.intents import (
    detect_household_intents,
    detect_session_intents,
    household_journeys,
)
from netcx.tables import HOUSEHOLD_INTENTS, SESSION_IDENTITY
from tests.servers import netcx_server
from tests.unit.intents.hits_factory import T0, hits_table

pytestmark = pytest.mark.integration
MIN = 60_000
DAY = 86_400_000


def test_household_journey_over_http_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    partner_a = ["vi_a", "ln_a", "hh_1"]
    partner_b = ["vi_b", "ln_b", "hh_1"]
    with netcx_server(data) as base, httpx.Client(base_url=base) as http:
        for i, url in enumerate(["/glasfaser", "/glasfaser/verfuegbarkeit?plz=10115"]):
            r = http.post(
                "/v1/intents/events",
                json={
                    "subjects": partner_a,
                    "ts_ms": T0 + i * MIN,
                    "url": f"https://www.example.de{url}",
                    "ref": f"a{i}",
                },
            )
            assert r.status_code == 200, r.text
        for i, event in enumerate(
            [{"search_term": "Vertrag kündigen Frist"}, {"url": "https://example.de/kuendigen"}]
        ):
            r = http.post(
                "/v1/intents/events",
                json={
                    "subjects": partner_b,
                    "ts_ms": T0 + 3 * 86_400_000 + i * MIN,
                    "ref": f"b{i}",
                    **event,
                },
            )
            assert r.status_code == 200
        emerged = {(e["subject_id"], e["intent"]) for e in r.json()["emerged"]}
        assert emerged == {
            ("vi_b", "churn_research"),
            ("ln_b", "churn_research"),
            ("hh_1", "churn_research"),
        }
        bad = http.post("/v1/intents/events", json={"subjects": [], "ts_ms": 1})
        assert bad.status_code == 400
        assert "subjects" in bad.json()["error"]
        bad = http.post("/v1/intents/events", content=b"{not json")
        assert bad.status_code == 400
    # a new process on the same data dir still knows the journey
    with netcx_server(data) as base, httpx.Client(base_url=base) as http:
        at = T0 + 3 * 86_400_000 + 2 * MIN
        journey = http.get("/v1/households/hh_1/journey", params={"at_ms": at}).json()["journey"]
        assert {i["intent"] for i in journey["intents"]} == {"fibre_availability", "churn_research"}
        assert set(journey["members"]) == {"vi_a", "vi_b"}  # the first subject is the source
        assert journey["started_ms"] == T0
        fibre = next(i for i in journey["intents"] if i["intent"] == "fibre_availability")
        assert [e["ref"] for e in fibre["evidence"]] == ["a0", "a1"]
        line_a = http.get("/v1/intents/ln_a", params={"at_ms": at}).json()["intents"]
        assert [i["intent"] for i in line_a] == ["fibre_availability"]
        assert http.get("/v1/intents/ln_a", params={"at_ms": "soon"}).status_code == 400


def test_batch_household_intents_combine_the_members_sessions() -> None:
    hits = hits_table(
        [
            {"session_id": "sA", "url": "https://www.example.de/glasfaser", "ts_ms": T0},
            {"session_id": "sA", "url": "https://example.de/glasfaser/check", "ts_ms": T0 + MIN},
            {"session_id": "sB", "url": "https://www.example.com/cancel", "ts_ms": T0 + DAY},
            {"session_id": "sB", "search_term": "notice period", "ts_ms": T0 + DAY + MIN},
            # weak signals from two members add up in the household only
            {"session_id": "sC", "title": "Roaming", "ts_ms": T0 + 2 * DAY},
            {"session_id": "sC", "title": "Reisen", "ts_ms": T0 + 2 * DAY + MIN},
            {"session_id": "sD", "title": "Roaming abroad", "ts_ms": T0 + 2 * DAY + 2 * MIN},
            # another household's session stays out
            {"session_id": "sX", "url": "https://www.example.com/cancel", "ts_ms": T0},
            {"session_id": "sX", "url": "https://www.example.com/cancel/confirm", "ts_ms": T0},
        ]
    )
    identity = pa.Table.from_pylist(
        [
            {"session_id": "sA", "visitor_id": "vA", "line_id": "lnA", "household_id": "hh1"},
            {"session_id": "sB", "visitor_id": "vB", "line_id": "lnB", "household_id": "hh1"},
            {"session_id": "sC", "visitor_id": "vA", "line_id": "lnA", "household_id": "hh1"},
            {"session_id": "sD", "visitor_id": "vB", "line_id": None, "household_id": "hh1"},
            {"session_id": "sX", "visitor_id": "vX", "line_id": "lnX", "household_id": "hh2"},
        ],
        schema=SESSION_IDENTITY,
    )
    session_intents = detect_session_intents(hits)
    assert "roaming" not in set(session_intents["intent"].to_pylist())  # weak per session
    out = detect_household_intents(session_intents, identity)
    assert out.schema == HOUSEHOLD_INTENTS
    rows = {(r["household_id"], r["intent"]): r for r in out.to_pylist()}
    assert set(rows) == {
        ("hh1", "fibre_availability"),
        ("hh1", "churn_research"),
        ("hh1", "roaming"),
        ("hh2", "churn_research"),
    }
    assert json.loads(rows[("hh1", "roaming")]["members"]) == ["lnA", "vB"]
    assert json.loads(rows[("hh1", "roaming")]["sessions"]) == ["sC", "sD"]
    [hh1] = [j for j in household_journeys(out) if j["household_id"] == "hh1"]
    assert set(hh1["intents"]) == {"fibre_availability", "churn_research", "roaming"}
    assert set(hh1["members"]) == {"lnA", "lnB", "vB"}
    assert hh1["started_ms"] == T0
