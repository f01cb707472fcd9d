"""SESSION_IDENTITY from a simulated world's truth: the best the network evidence allows.

Stands in for the identity stage in tests of the churn evaluation (an upper bound of what
the resolver can recognise); `consent_only` keeps ids only where personalisation consent is.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.tables import SESSION_IDENTITY


def identity_from_truth(
    hits: pa.Table, truth: pa.Table, ps: Pseudonymizer, consent_only: bool = True
) -> pa.Table:
    h = hits.select(
        ["hit_id", "ts_ms", "session_id", "visitor_id", "channel", "consent_personalisation"]
    ).to_pydict()
    t = truth.select(
        ["hit_id", "true_line_id", "true_household_id", "true_account_id", "attributable_level"]
    ).to_pydict()
    truth_of = {hid: i for i, hid in enumerate(t["hit_id"])}
    sessions: dict[str, dict[str, Any]] = {}
    for i, sid in enumerate(h["session_id"]):
        s = sessions.setdefault(
            sid,
            {
                "session_id": sid,
                "visitor_id": ps.pseudonym(IdKind.VISITOR, h["visitor_id"][i]),
                "start_ms": h["ts_ms"][i],
                "end_ms": h["ts_ms"][i],
                "channel": h["channel"][i],
                "recognition": "anonymous",
                "recognised_ms": None,
                "login_ms": None,
                "confidence": 0.0,
                "line_id": None,
                "subscriber_id": None,
                "household_id": None,
                "account_id": None,
                "consent_personalisation": bool(h["consent_personalisation"][i]),
            },
        )
        s["start_ms"] = min(s["start_ms"], h["ts_ms"][i])
        s["end_ms"] = max(s["end_ms"], h["ts_ms"][i])
        j = truth_of[h["hit_id"][i]]
        level = t["attributable_level"][j]
        if level == "none" or s["recognition"] == "network_line":
            continue
        if consent_only and not s["consent_personalisation"]:
            continue
        s["recognition"] = "network_line" if level == "line" else "network_household"
        s["recognised_ms"] = s["recognised_ms"] or h["ts_ms"][i]
        s["confidence"] = 0.9
        s["household_id"] = ps.pseudonym(IdKind.HOUSEHOLD, t["true_household_id"][j])
        s["account_id"] = ps.pseudonym(IdKind.ACCOUNT, t["true_account_id"][j])
        if level == "line" and t["true_line_id"][j]:
            s["line_id"] = ps.pseudonym(IdKind.LINE, t["true_line_id"][j])
    return pa.Table.from_pylist(list(sessions.values()), schema=SESSION_IDENTITY)
