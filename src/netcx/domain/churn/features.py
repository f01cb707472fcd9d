"""Churn features of a line at a prediction date: CRM facts and pre-login web signals.

Every feature of a snapshot at `at_ms` uses only records dated before `at_ms`; labels
(churn within the horizon after `at_ms`) are computed separately, so nothing leaks.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DAY_MS = 86_400_000
WEB_INTENTS = ("churn_research", "tariff_comparison", "upgrade", "billing_problem", "outage")
# taxonomy topics of churn research, as timeline kinds "topic:<name>"
WEB_TOPICS = ("cancellation", "porting", "competitor")
CARE_REASONS = ("cancel", "complaint", "billing", "outage")
_NEVER = 999.0  # "days since" when there was nothing: far away, but a number


@dataclass(frozen=True)
class Line:
    """The CRM facts of one line (ids are pseudonyms). Age and gender are deliberately not
    among them: a retention model must not treat customers differently by them."""

    line_id: str
    household_id: str
    account_id: str
    kind: str
    tariff: str
    device_model: str
    monthly_charge_eur: float
    contract_start_ms: int
    contract_end_ms: int
    area_id: str
    segment: str
    household_lines: int
    has_fixed: bool


@dataclass
class Timeline:
    """Dated events of one key (a line, household or area), sorted by time."""

    ts: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def count(self, lo_ms: int, hi_ms: int, kind: str | None = None) -> int:
        """Events in [lo_ms, hi_ms) (of `kind`, if given)."""
        a = bisect.bisect_left(self.ts, lo_ms)
        b = bisect.bisect_left(self.ts, hi_ms)
        if kind is None:
            return b - a
        return sum(1 for k in self.kinds[a:b] if k == kind)

    def last_before(self, hi_ms: int, kind: str | None = None) -> int | None:
        b = bisect.bisect_left(self.ts, hi_ms)
        for i in range(b - 1, -1, -1):
            if kind is None or self.kinds[i] == kind:
                return self.ts[i]
        return None

    def first_in(self, lo_ms: int, hi_ms: int, kind: str) -> int | None:
        a = bisect.bisect_left(self.ts, lo_ms)
        b = bisect.bisect_left(self.ts, hi_ms)
        for i in range(a, b):
            if self.kinds[i] == kind:
                return self.ts[i]
        return None


def timelines(events: Iterable[tuple[str, int, str, int]]) -> dict[str, Timeline]:
    """Group (key, ts_ms, kind, end_ms) into sorted timelines per key."""
    grouped: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for key, ts, kind, end in events:
        grouped[key].append((ts, kind, end))
    out = {}
    for key, items in grouped.items():
        items.sort()
        out[key] = Timeline(
            [t for t, _, _ in items], [k for _, k, _ in items], [e for *_, e in items]
        )
    return out


def _days_since(at_ms: int, ts: int | None) -> float:
    return _NEVER if ts is None else (at_ms - ts) / DAY_MS


_EMPTY = Timeline()


def crm_features(
    line: Line, at_ms: int, care: Mapping[str, Timeline], outages: Mapping[str, Timeline]
) -> dict[str, Any]:
    """CRM facts at `at_ms`: contract, tariff, charges, care contacts, outage exposure."""
    contacts = care.get(line.line_id, _EMPTY)
    account_contacts = care.get(line.account_id, _EMPTY)
    area = outages.get(line.area_id, _EMPTY)
    lo30, lo90 = at_ms - 30 * DAY_MS, at_ms - 90 * DAY_MS
    out_lo = bisect.bisect_left(area.ts, lo30)
    out_hi = bisect.bisect_left(area.ts, at_ms)
    outage_hours = sum(
        (min(area.ends[i], at_ms) - area.ts[i]) / 3_600_000 for i in range(out_lo, out_hi)
    )
    row: dict[str, Any] = {
        "kind": line.kind,
        "tariff": line.tariff,
        "device_model": line.device_model,
        "segment": line.segment,
        "monthly_charge_eur": line.monthly_charge_eur,
        "tenure_days": (at_ms - line.contract_start_ms) / DAY_MS,
        "days_to_contract_end": (line.contract_end_ms - at_ms) / DAY_MS,
        "household_lines": line.household_lines,
        "has_fixed": int(line.has_fixed),
        "care_30d": contacts.count(lo30, at_ms) + account_contacts.count(lo30, at_ms),
        "care_90d": contacts.count(lo90, at_ms) + account_contacts.count(lo90, at_ms),
        "care_days_since": _days_since(
            at_ms,
            max(contacts.last_before(at_ms) or 0, account_contacts.last_before(at_ms) or 0) or None,
        ),
        "outages_30d": out_hi - out_lo,
        "outage_hours_30d": outage_hours,
    }
    for reason in CARE_REASONS:
        row[f"care_{reason}_60d"] = contacts.count(
            at_ms - 60 * DAY_MS, at_ms, reason
        ) + account_contacts.count(at_ms - 60 * DAY_MS, at_ms, reason)
    return row


def web_features(
    line: Line, at_ms: int, by_line: Mapping[str, Timeline], by_household: Mapping[str, Timeline]
) -> dict[str, Any]:
    """Pre-login web signals before `at_ms`: counts and recency per intent, line and household."""
    row: dict[str, Any] = {}
    for scope, timeline in (
        ("line", by_line.get(line.line_id, _EMPTY)),
        ("hh", by_household.get(line.household_id, _EMPTY)),
    ):
        for intent in WEB_INTENTS:
            row[f"web_{scope}_{intent}_7d"] = timeline.count(at_ms - 7 * DAY_MS, at_ms, intent)
            row[f"web_{scope}_{intent}_30d"] = timeline.count(at_ms - 30 * DAY_MS, at_ms, intent)
            row[f"web_{scope}_{intent}_days_since"] = _days_since(
                at_ms, timeline.last_before(at_ms, intent)
            )
        for topic in WEB_TOPICS:
            kind = f"topic:{topic}"
            row[f"web_{scope}_{topic}_30d"] = timeline.count(at_ms - 30 * DAY_MS, at_ms, kind)
            row[f"web_{scope}_{topic}_days_since"] = _days_since(
                at_ms, timeline.last_before(at_ms, kind)
            )
        row[f"web_{scope}_sessions_30d"] = sum(
            timeline.count(at_ms - 30 * DAY_MS, at_ms, intent) for intent in WEB_INTENTS
        )
    return row


def first_research_ms(
    line: Line,
    churn_ms: int,
    by_line: Mapping[str, Timeline],
    by_household: Mapping[str, Timeline],
    window_days: int = 90,
) -> int | None:
    """The first churn-research signal of a line or its household in the window before churn."""
    lo = churn_ms - window_days * DAY_MS
    firsts = [
        t.first_in(lo, churn_ms, "churn_research")
        for t in (by_line.get(line.line_id, _EMPTY), by_household.get(line.household_id, _EMPTY))
    ]
    found = [f for f in firsts if f is not None]
    return min(found) if found else None


def lead_time_summary(lead_days: Sequence[float], churners: int) -> dict[str, float]:
    """Median lead time and the shares of churners warned ≥ 7 / 14 / 30 days ahead."""
    if not lead_days:
        return {
            "churn.lead_time_days_median": math.nan,
            "churn.lead_time_share_ge_7d": 0.0,
            "churn.lead_time_share_ge_14d": 0.0,
            "churn.lead_time_share_ge_30d": 0.0,
            "churn.research_signal_coverage": 0.0,
        }
    ordered = sorted(lead_days)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    n = len(ordered)
    return {
        "churn.lead_time_days_median": median,
        "churn.lead_time_share_ge_7d": sum(d >= 7 for d in ordered) / n,
        "churn.lead_time_share_ge_14d": sum(d >= 14 for d in ordered) / n,
        "churn.lead_time_share_ge_30d": sum(d >= 30 for d in ordered) / n,
        "churn.research_signal_coverage": n / churners if churners else 0.0,
    }
