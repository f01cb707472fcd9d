"""Estimates with confidence intervals for shares, differences of shares and of means."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

ALPHA = 0.05
"""Two-sided 5 %: every interval in reports is a 95 % confidence interval."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (1 - alpha) confidence interval [low, high] and the sample size."""

    value: float
    low: float
    high: float
    n: int

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "ci95": [self.low, self.high], "n": self.n}


@dataclass(frozen=True)
class Comparison:
    """Treated minus control (or a ratio) with its interval, p-value and the two sample sizes."""

    value: float
    low: float
    high: float
    p_value: float
    n_treated: int
    n_control: int

    @property
    def significant(self) -> bool:
        """The interval excludes the null (0 for differences, 1 for ratios)."""
        return self.p_value < ALPHA

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high

    def as_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "ci95": [self.low, self.high],
            "p_value": self.p_value,
            "n_treated": self.n_treated,
            "n_control": self.n_control,
        }


def share_ci(
    successes: int,
    n: int,
    method: Literal["wilson", "agresti_coull"] = "wilson",
    alpha: float = ALPHA,
) -> Interval:
    """Share successes/n with a Wilson (default) or Agresti–Coull score interval.

    An empty sample gives NaN: there is nothing to estimate, and a report must say so.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"share_ci: need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    low, high = proportion_confint(successes, n, alpha=alpha, method=method)
    return Interval(successes / n, float(low), float(high), n)


def share_difference(
    x_treated: int, n_treated: int, x_control: int, n_control: int, alpha: float = ALPHA
) -> Comparison:
    """Difference of two independent shares: Newcombe's hybrid score interval (method 10).

    The p-value is the score test of equal shares, which agrees with the interval in all but
    knife-edge cases.
    """
    if min(n_treated, n_control) == 0:
        return Comparison(math.nan, math.nan, math.nan, math.nan, n_treated, n_control)
    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels' unused odds ratio at 0
        low, high = confint_proportions_2indep(
            x_treated,
            n_treated,
            x_control,
            n_control,
            method="newcomb",
            compare="diff",
            alpha=alpha,
        )
    p_value = _score_test_p(x_treated, n_treated, x_control, n_control)
    diff = x_treated / n_treated - x_control / n_control
    return Comparison(diff, float(low), float(high), p_value, n_treated, n_control)


def share_ratio(
    x_treated: int, n_treated: int, x_control: int, n_control: int, alpha: float = ALPHA
) -> Comparison:
    """Ratio of two shares (lift) with the adjusted log interval (0.5 added to each cell)."""
    if min(n_treated, n_control) == 0 or x_control == 0:
        return Comparison(math.nan, math.nan, math.nan, math.nan, n_treated, n_control)
    low, high = confint_proportions_2indep(
        x_treated,
        n_treated,
        x_control,
        n_control,
        method="log-adjusted",
        compare="ratio",
        alpha=alpha,
    )
    ratio = (x_treated / n_treated) / (x_control / n_control)
    p_value = _score_test_p(x_treated, n_treated, x_control, n_control)
    return Comparison(ratio, float(low), float(high), p_value, n_treated, n_control)


def _score_test_p(x1: int, n1: int, x2: int, n2: int) -> float:
    if (x1 == 0 and x2 == 0) or (x1 == n1 and x2 == n2):
        return 1.0  # both shares at the same boundary: no evidence of a difference
    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels' unused odds ratio at 0
        result = test_proportions_2indep(x1, n1, x2, n2, method="score", compare="diff")
    return float(result.pvalue)


def mean_difference(
    treated: Sequence[float], control: Sequence[float], alpha: float = ALPHA
) -> Comparison:
    """Difference of means with Welch's t interval (unequal variances)."""
    n_t, n_c = len(treated), len(control)
    if n_t < 2 or n_c < 2:
        return Comparison(math.nan, math.nan, math.nan, math.nan, n_t, n_c)
    diff = float(sum(treated) / n_t - sum(control) / n_c)
    t, c = DescrStatsW(list(treated)), DescrStatsW(list(control))
    if t.var == 0 and c.var == 0:  # no sampling variation: the difference is exact
        return Comparison(diff, diff, diff, 1.0 if diff == 0 else 0.0, n_t, n_c)
    means = CompareMeans(t, c)
    low, high = means.tconfint_diff(alpha=alpha, usevar="unequal")
    _, p_value, _ = means.ttest_ind(usevar="unequal")
    return Comparison(diff, float(low), float(high), float(p_value), n_t, n_c)
