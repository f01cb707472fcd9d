"""Batch stage: one decision per recognised, consenting session with an emerged intent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from netcx.config import Settings
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.services.decisions import decide_sessions
from netcx.tables import (
    ACCOUNTS,
    CHURN,
    DECISIONS,
    LINES,
    OUTAGES,
    SESSION_IDENTITY,
    SESSION_INTENTS,
    UPGRADES,
)
from tests.unit.decisions.helpers import DAY, NOW

PZ = Pseudonymizer({"k1": b"batch-key"}, "k1")
N = 400  # accounts, one mobile line each; account 0..9 also have a fixed line in area B


class FakeWorld:
    path = Path("/nonexistent")

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables

    def table(self, name: str) -> pa.Table:
        return self.tables[name]

    def has_truth(self) -> bool:
        return False

    def outcomes_under(self, decisions: pa.Table) -> dict[str, pa.Table]:
        raise NotImplementedError


def rows(schema: pa.Schema, items: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(items, schema=schema)


def world() -> FakeWorld:
    lines = [
        {
            "line_id": f"L{i}",
            "kind": "mobile",
            "subscriber_id": f"S{i}",
            "household_id": f"H{i}",
            "account_id": f"A{i}",
            "msisdn": f"4915{i:07d}",
            "imsi": None,
            "user_name": None,
            "tariff": "mobile_xl",
            "device_model": "Pixel 7",
            "contract_start_ms": NOW - 900 * DAY,
            "contract_end_ms": NOW + 30 * DAY,
            "monthly_charge_eur": 30.0,
            "area_id": "A",
        }
        for i in range(N)
    ] + [
        {
            "line_id": f"F{i}",
            "kind": "fixed",
            "subscriber_id": None,
            "household_id": f"H{i}",
            "account_id": f"A{i}",
            "msisdn": None,
            "imsi": None,
            "user_name": f"u{i}",
            "tariff": "fibre_100",
            "device_model": None,
            "contract_start_ms": NOW - 900 * DAY,
            "contract_end_ms": NOW + 300 * DAY,
            "monthly_charge_eur": 40.0,
            "area_id": "B",
        }
        for i in range(10)
    ]
    return FakeWorld(
        {
            "crm/lines": rows(LINES, lines),
            "crm/accounts": rows(
                ACCOUNTS,
                [
                    {"account_id": f"A{i}", "segment": "consumer", "created_ms": NOW - 1000 * DAY}
                    for i in range(N)
                ],
            ),
            "outcomes/outages": rows(
                OUTAGES,
                [
                    {
                        "outage_id": "O1",
                        "area_id": "B",
                        "start_ms": NOW - 3_600_000,
                        "end_ms": NOW + 7_200_000,
                        "eta_ms": NOW + 3_600_000,
                    }
                ],
            ),
            "outcomes/churn": rows(
                CHURN, [{"line_id": "L7", "account_id": "A7", "churn_ms": NOW - DAY}]
            ),
            "outcomes/upgrades": rows(UPGRADES, []),
        }
    )


def session(
    sid: str, i: int, recognition: str = "network_line", consent: bool = True, at: int = NOW
) -> dict[str, Any]:
    household = recognition == "network_household"
    return {
        "session_id": sid,
        "visitor_id": PZ.pseudonym(IdKind.VISITOR, f"cookie{i}"),
        "start_ms": at - 60_000,
        "end_ms": at + 60_000,
        "channel": "web",
        "recognition": recognition,
        "recognised_ms": at - 50_000,
        "login_ms": None,
        "confidence": 0.9,
        "line_id": None if household else PZ.pseudonym(IdKind.LINE, f"L{i}"),
        "subscriber_id": None if household else PZ.pseudonym(IdKind.SUBSCRIBER, f"S{i}"),
        "household_id": PZ.pseudonym(IdKind.HOUSEHOLD, f"H{i}"),
        "account_id": PZ.pseudonym(IdKind.ACCOUNT, f"A{i}"),
        "consent_personalisation": consent,
    }


def intent(sid: str, name: str, at: int = NOW) -> dict[str, Any]:
    return {
        "session_id": sid,
        "intent": name,
        "score": 0.8,
        "emerged_ms": at - 10_000,
        "first_signal_ms": at - 40_000,
        "evidence": "[]",
    }


def run(identity: list[dict[str, Any]], intents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = decide_sessions(
        rows(SESSION_IDENTITY, identity), rows(SESSION_INTENTS, intents), world(), Settings(), PZ
    )
    assert out.schema == DECISIONS
    return out.to_pylist()


def test_one_decision_per_eligible_session() -> None:
    identity = [
        session("churn", 1),
        session("anon", 2, recognition="anonymous"),
        session("noconsent", 3, consent=False),
        session("nointent", 4),
        session("fibre", 5, recognition="network_household"),
        session("outage", 6),
        session("churned", 7),
    ]
    intents = [
        intent("churn", "churn_research"),
        intent("anon", "churn_research"),
        intent("noconsent", "upgrade"),
        intent("nointent", "none"),
        intent("fibre", "fibre_availability"),
        intent("outage", "outage"),
        intent("churned", "churn_research"),
    ]
    got = {r["session_id"]: r for r in run(identity, intents)}
    assert set(got) == {"churn", "fibre", "outage", "churned"}
    # the accounts of this test are in no holdout only by luck of the hash: check both ways
    expected = {
        "churn": "retention_save_offer",
        "fibre": "fibre_existing_customer_upgrade",
        "churned": "none",
    }
    for sid, exp in expected.items():
        assert got[sid]["experience"] == exp, got[sid]
    assert got["churned"]["reason"].startswith("retention_save_offer=suppressed:after_churn")
    # account 6 has no fixed line: its mobile line's area A has no outage → status help
    assert got["outage"]["experience"] == "outage_status_help"
    assert got["churn"]["account_id"] == PZ.pseudonym(IdKind.ACCOUNT, "A1")
    assert got["churn"]["intent"] == "churn_research"
    assert "intent:churn_research" in got["churn"]["reason"]


def test_household_in_an_outage_area_gets_reassurance() -> None:
    got = run([session("o", 3, recognition="network_household")], [intent("o", "outage")])
    assert got[0]["experience"] == "outage_reassurance"
    assert "fact:outage_active" in got[0]["reason"]


def test_holdouts_and_caps_over_many_sessions() -> None:
    identity = [session(f"s{i}", i) for i in range(8, N)]
    identity += [session(f"again{k}", 8, at=NOW + k * 600_000) for k in range(1, 4)]
    later = {"again1": "tariff_comparison", "again2": "upgrade", "again3": "fibre_availability"}
    intents = [
        intent(
            r["session_id"], later.get(r["session_id"], "tariff_comparison"), r["start_ms"] + 60_000
        )
        for r in identity
    ]
    got = run(identity, intents)
    assert len(got) == len(identity)
    held = [r for r in got if r["holdout"]]
    assert all(not r["shown"] for r in held)
    assert 0.08 < len(held) / len(got) < 0.22  # 5 % universal + 10 % of the rest
    # account 8: in-session guidance is repeated in a second session; two offer sessions in
    # an hour cap the web for the rest (held-out decisions count too, so the groups stay
    # comparable)
    mine = sorted(
        (r for r in got if r["account_id"] == PZ.pseudonym(IdKind.ACCOUNT, "A8")),
        key=lambda r: r["ts_ms"],
    )
    assert [r["experience"] for r in mine] == [
        "tariff_review_own_usage",
        "tariff_review_own_usage",
        "none",
        "none",
    ]
    assert "upgrade_own_terms=cap:web:2/3600s" in mine[2]["reason"]
    assert "fibre_existing_customer_upgrade=cap:web:2/3600s" in mine[3]["reason"]


def test_summary_for_the_report_counts_shown_holdout_and_checks_srm() -> None:
    from netcx.config import DecisionSettings
    from netcx.services.decisions import summarise_decisions

    identity = [session(f"s{i}", i) for i in range(8, N)]
    intents = [intent(r["session_id"], "churn_research") for r in identity]
    table = decide_sessions(
        rows(SESSION_IDENTITY, identity), rows(SESSION_INTENTS, intents), world(), Settings(), PZ
    )
    summary = summarise_decisions(table, DecisionSettings())
    assert summary["decisions.total"] == len(identity)
    assert summary["decisions.shown"] + summary["decisions.holdout"] == len(identity)
    assert (
        summary["decisions.by_experience.retention_save_offer.shown"] == summary["decisions.shown"]
    )
    assert 0 < summary["decisions.universal_control_accounts"] < 0.1 * len(identity)
    assert summary["decisions.srm_mismatch"] == 0.0 and summary["decisions.srm_p_value"] > 0.001
