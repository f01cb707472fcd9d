"""Hand-made HITS tables for intent tests (the simulator's columns, a few rows)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from netcx.tables import HITS

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def hits_table(rows: list[dict[str, Any]]) -> pa.Table:
    """HITS from partial rows: hit_id, ts_ms default from position; the rest null/web/page."""
    full = []
    for i, r in enumerate(rows):
        full.append(
            {
                "hit_id": i + 1,
                "ts_ms": T0 + i * 30_000,
                "visitor_id": "v-" + r.get("session_id", "s1"),
                "session_id": "s1",
                "channel": "web",
                "event_type": "page",
                "url": None,
                "title": None,
                "search_term": None,
                "referrer": None,
                "user_agent": "Mozilla/5.0",
                "src_ip": "198.18.0.1",
                "src_port": None,
                "login_subscriber_id": None,
                "consent_analytics": True,
                "consent_personalisation": True,
                "consent_marketing": False,
                **r,
            }
        )
    return pa.Table.from_pylist(full, schema=HITS)
