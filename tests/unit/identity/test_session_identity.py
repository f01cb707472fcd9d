"""build_session_identity: consent-gated network recognition, logins authenticate."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netcx.domain.pseudonyms import IdKind
from netcx.errors import InvalidInput
from netcx.services.identity import build_session_identity
from netcx.tables import HITS, RESOLVED_HITS, SESSION_IDENTITY
from tests.unit.identity.fakes import PSEUDO, pid

L1, S1, H1, A1 = (
    pid(k, r)
    for k, r in [
        (IdKind.LINE, "L1"),
        (IdKind.SUBSCRIBER, "S1"),
        (IdKind.HOUSEHOLD, "H1"),
        (IdKind.ACCOUNT, "A1"),
    ]
)
H2, A2 = pid(IdKind.HOUSEHOLD, "H2"), pid(IdKind.ACCOUNT, "A2")


def hit(
    hit_id: int, session: str, ts: int, consent: bool = True, login: str | None = None
) -> dict[str, Any]:
    return {
        "hit_id": hit_id,
        "ts_ms": ts,
        "visitor_id": f"cookie-{session}",
        "session_id": session,
        "channel": "web",
        "event_type": "login" if login else "page",
        "url": "https://example.test/",
        "title": "t",
        "search_term": None,
        "referrer": None,
        "user_agent": "ua",
        "src_ip": "198.18.0.7",
        "src_port": 1500,
        "login_subscriber_id": login,
        "consent_analytics": True,
        "consent_personalisation": consent,
        "consent_marketing": False,
    }


def line(hit_id: int, conf: float = 0.9) -> dict[str, Any]:
    return {
        "hit_id": hit_id,
        "level": "line",
        "reason": "port_block",
        "confidence": conf,
        "line_id": L1,
        "subscriber_id": S1,
        "household_id": H1,
        "account_id": A1,
        "evidence": "[]",
    }


def household(hit_id: int) -> dict[str, Any]:
    return {
        "hit_id": hit_id,
        "level": "household",
        "reason": "no_port",
        "confidence": 0.7,
        "line_id": None,
        "subscriber_id": None,
        "household_id": H2,
        "account_id": A2,
        "evidence": "[]",
    }


def unknown(hit_id: int) -> dict[str, Any]:
    return {
        "hit_id": hit_id,
        "level": "unknown",
        "reason": "not_ours",
        "confidence": 0.0,
        "line_id": None,
        "subscriber_id": None,
        "household_id": None,
        "account_id": None,
        "evidence": "[]",
    }


def run(hits: list[dict[str, Any]], resolved: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    t = build_session_identity(
        pa.Table.from_pylist(hits, schema=HITS),
        pa.Table.from_pylist(resolved, schema=RESOLVED_HITS),
        PSEUDO,
    )
    assert t.schema.equals(SESSION_IDENTITY)
    return {r["session_id"]: r for r in t.to_pylist()}


def test_states_per_session() -> None:
    hits = [
        hit(1, "net", 1000),
        hit(2, "net", 2000),
        hit(3, "hh", 1000),
        hit(4, "nocon", 1000, consent=False),
        hit(5, "anon", 1000),
        hit(6, "login", 1000),
        hit(7, "login", 3000, login="S1"),
    ]
    resolved = [unknown(1), line(2, 0.8), household(3), line(4), unknown(5), line(6), line(7)]
    out = run(hits, resolved)
    net = out["net"]
    assert (net["recognition"], net["recognised_ms"], net["line_id"], net["account_id"]) == (
        "network_line",
        2000,
        L1,
        A1,
    )
    assert (
        net["start_ms"] == 1000
        and net["end_ms"] == 2000
        and net["confidence"] == pytest.approx(0.8)
    )
    assert net["visitor_id"] == pid(IdKind.VISITOR, "cookie-net")
    assert (out["hh"]["recognition"], out["hh"]["household_id"], out["hh"]["line_id"]) == (
        "network_household",
        H2,
        None,
    )
    assert out["nocon"]["recognition"] == "anonymous" and out["nocon"]["line_id"] is None
    assert out["anon"]["recognition"] == "anonymous" and out["anon"]["recognised_ms"] is None
    login = out["login"]
    assert (login["recognition"], login["login_ms"], login["recognised_ms"]) == (
        "authenticated",
        3000,
        1000,
    )
    assert (login["subscriber_id"], login["line_id"], login["account_id"]) == (S1, L1, A1)


def test_revocation_within_the_session_drops_network_ids() -> None:
    out = run([hit(1, "s", 1000), hit(2, "s", 2000, consent=False)], [line(1), line(2)])
    assert out["s"]["recognition"] == "anonymous" and out["s"]["line_id"] is None
    assert out["s"]["consent_personalisation"] is False


def test_login_keeps_its_own_subscriber_when_the_network_line_is_someone_elses() -> None:
    out = run([hit(1, "s", 1000, login="S9")], [line(1)])
    s = out["s"]
    assert s["recognition"] == "authenticated" and s["subscriber_id"] == pid(
        IdKind.SUBSCRIBER, "S9"
    )
    assert s["line_id"] is None and s["account_id"] is None


def test_missing_column_is_named() -> None:
    with pytest.raises(InvalidInput, match="hits: missing column"):
        build_session_identity(pa.table({"hit_id": [1]}), pa.table({"hit_id": [1]}), PSEUDO)


session_hits = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),  # session
        st.integers(min_value=0, max_value=100),  # ts
        st.booleans() | st.none(),  # consent
        st.sampled_from([None, None, None, "S1", "S9"]),  # login
        st.sampled_from(["line", "household", "unknown"]),
    ),
    min_size=1,
    max_size=25,
)


@given(session_hits)
def test_session_invariants(rows: list[tuple[str, int, bool | None, str | None, str]]) -> None:
    hits = [
        hit(i, s, ts, bool(c), login) | {"consent_personalisation": c}
        for i, (s, ts, c, login, _) in enumerate(rows)
    ]
    pick = {"line": line, "household": household, "unknown": unknown}
    out = run(hits, [pick[level](i) for i, (*_, level) in enumerate(rows)])
    for sid, r in out.items():
        mine = sorted((ts, i, c, login) for i, (s, ts, c, login, _) in enumerate(rows) if s == sid)
        last_consent = bool(mine[-1][2])
        assert r["consent_personalisation"] is last_consent
        assert (r["recognition"] == "authenticated") == any(login for *_, login in mine)
        if not last_consent:
            assert r["line_id"] is None
            assert r["recognition"] in ("anonymous", "authenticated")
        if r["recognition"] == "anonymous":
            assert r["recognised_ms"] is None
            assert all(
                r[k] is None for k in ("line_id", "subscriber_id", "household_id", "account_id")
            )
        else:
            assert r["start_ms"] <= r["recognised_ms"] <= r["end_ms"]
