"""Lead time between an early signal and the outcome it announced (e.g. research → churn)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from netcx.domain.measurement.intervals import Interval, share_ci

LEAD_TIME_THRESHOLDS_DAYS = (7, 14, 30)


@dataclass(frozen=True)
class LeadTimeSummary:
    n: int
    median_days: float
    share_at_least: dict[int, Interval]

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "median_days": self.median_days,
            "share_at_least_days": {str(d): i.as_dict() for d, i in self.share_at_least.items()},
        }


def summarise_lead_times(
    days: Sequence[float], thresholds: Sequence[int] = LEAD_TIME_THRESHOLDS_DAYS
) -> LeadTimeSummary:
    """Median lead time and the share of cases with at least d days, for each threshold."""
    median = statistics.median(days) if days else math.nan
    return LeadTimeSummary(
        n=len(days),
        median_days=float(median),
        share_at_least={d: share_ci(sum(1 for x in days if x >= d), len(days)) for d in thresholds},
    )
