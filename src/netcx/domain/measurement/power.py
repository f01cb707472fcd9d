"""Power: the smallest true difference a comparison of this size would detect reliably."""

from __future__ import annotations

import math

from statsmodels.stats.power import NormalIndPower

from netcx.domain.measurement.intervals import ALPHA

POWER = 0.8


def minimum_detectable_difference(
    sd: float, n_treated: int, n_control: int, alpha: float = ALPHA, power: float = POWER
) -> float:
    """Two-sided minimum detectable difference of means, in the outcome's units.

    `sd` is the per-unit standard deviation of the outcome (for a share p: sqrt(p(1−p)); for
    NPS in points: 100·sqrt(p_P + p_D − (p_P − p_D)²)). Normal approximation, as in Cohen (1988).
    """
    if n_treated < 2 or n_control < 2 or not sd > 0:
        return math.nan
    effect_size = NormalIndPower().solve_power(
        effect_size=None,
        nobs1=n_treated,
        alpha=alpha,
        power=power,
        ratio=n_control / n_treated,
        alternative="two-sided",
    )
    return float(effect_size) * sd
