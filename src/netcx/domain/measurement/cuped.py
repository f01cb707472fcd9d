"""CUPED (Deng, Xu, Kohavi & Walker 2013): variance reduction with pre-period covariates.

Each unit's outcome y is replaced by y − (x − x̄)·θ, where θ is the pooled least-squares
coefficient of y on the pre-period covariates x (measured before assignment, so unaffected by
treatment). The mean difference stays unbiased; its variance shrinks by the share of variance
the covariates explain (R², ρ² for one covariate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from netcx.domain.measurement.intervals import ALPHA, Comparison, mean_difference


@dataclass(frozen=True)
class CupedResult:
    unadjusted: Comparison
    adjusted: Comparison
    theta: tuple[float, ...]
    variance_reduction: float
    """1 − Var(adjusted outcome) / Var(outcome), pooled over both groups."""

    def as_dict(self) -> dict[str, object]:
        return {
            "unadjusted": self.unadjusted.as_dict(),
            "adjusted": self.adjusted.as_dict(),
            "theta": list(self.theta),
            "variance_reduction": self.variance_reduction,
        }


def cuped_adjust(
    outcome: Sequence[float], covariates: Sequence[Sequence[float]]
) -> tuple[np.ndarray, tuple[float, ...]]:
    """Adjusted outcomes and θ; `covariates` holds one row of pre-period values per unit."""
    y = np.asarray(outcome, dtype=float)
    x = np.asarray(covariates, dtype=float).reshape(len(y), -1)
    if len(y) < 2:
        return y, tuple(0.0 for _ in range(x.shape[1]))
    centred = x - x.mean(axis=0)
    # Covariates without variance carry no information: lstsq gives them θ = 0 (minimum norm).
    theta, *_ = np.linalg.lstsq(centred, y - y.mean(), rcond=None)
    return y - centred @ theta, tuple(float(t) for t in theta)


def cuped_difference(
    outcome: Sequence[float],
    covariates: Sequence[Sequence[float]],
    treated: Sequence[bool],
    alpha: float = ALPHA,
) -> CupedResult:
    """Treated − control mean difference before and after the CUPED adjustment."""
    y = np.asarray(outcome, dtype=float)
    is_treated = np.asarray(treated, dtype=bool)
    adjusted, theta = cuped_adjust(outcome, covariates)
    var_y = float(y.var()) if len(y) else math.nan
    reduction = 1.0 - float(adjusted.var()) / var_y if var_y > 0 else 0.0
    return CupedResult(
        unadjusted=mean_difference(y[is_treated].tolist(), y[~is_treated].tolist(), alpha),
        adjusted=mean_difference(
            adjusted[is_treated].tolist(), adjusted[~is_treated].tolist(), alpha
        ),
        theta=theta,
        variance_reduction=reduction,
    )
