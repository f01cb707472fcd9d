"""CUPED against its defining identities (Deng et al. 2013) and statsmodels OLS."""

import numpy as np
import pytest
import statsmodels.api as sm

from netcx.domain.measurement.cuped import cuped_adjust, cuped_difference


def _experiment(n: int = 2000, effect: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    pre = rng.normal(10, 3, size=(n, 2))
    treated = rng.random(n) < 0.5
    outcome = 2.0 * pre[:, 0] - 0.5 * pre[:, 1] + effect * treated + rng.normal(0, 2, n)
    return outcome, pre, treated


def test_one_covariate_reduces_variance_by_rho_squared() -> None:
    # Deng et al. (2013), eq. 4: Var(Y_cv) = Var(Y)(1 − ρ²) with θ = cov(Y, X)/var(X).
    y, pre, treated = _experiment()
    result = cuped_difference(y, pre[:, :1], treated)
    rho = np.corrcoef(y, pre[:, 0])[0, 1]
    assert result.variance_reduction == pytest.approx(rho**2, rel=1e-9)
    assert result.theta[0] == pytest.approx(np.cov(y, pre[:, 0])[0, 1] / np.var(pre[:, 0], ddof=1))


def test_several_covariates_reduce_variance_by_ols_r_squared() -> None:
    y, pre, treated = _experiment()
    result = cuped_difference(y, pre, treated)
    r2 = sm.OLS(y, sm.add_constant(pre)).fit().rsquared
    assert result.variance_reduction == pytest.approx(r2, rel=1e-9)
    assert result.theta == pytest.approx((2.0, -0.5), abs=0.05)


def test_adjustment_keeps_the_effect_and_narrows_the_interval() -> None:
    y, pre, treated = _experiment(effect=1.0)
    result = cuped_difference(y, pre, treated)
    assert result.adjusted.covers(1.0)
    width = result.adjusted.high - result.adjusted.low
    assert width < 0.5 * (result.unadjusted.high - result.unadjusted.low)


def test_constant_covariate_changes_nothing() -> None:
    adjusted, theta = cuped_adjust([1.0, 2.0, 4.0], [[5.0], [5.0], [5.0]])
    assert theta == (0.0,)
    assert adjusted.tolist() == [1.0, 2.0, 4.0]
