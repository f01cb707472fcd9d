"""NPS counts and adjusted-Wald intervals (Rocks 2016) against hand computations and a library."""

import math

import numpy as np
import pytest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from netcx.domain.measurement.nps import (
    NpsCounts,
    nps_ci,
    nps_contribution,
    nps_counts,
    nps_difference,
)


def test_counts_follow_the_nps_bands() -> None:
    counts = nps_counts([0, 6, 7, 8, 9, 10, 10])
    assert counts == NpsCounts(promoters=3, passives=2, detractors=2)
    assert counts.score == pytest.approx(100 * (3 - 2) / 7)
    assert [nps_contribution(s) for s in (6, 7, 9)] == [-100.0, 0.0, 100.0]
    with pytest.raises(ValueError, match=r"0\.\.10"):
        nps_counts([11])


def test_adjusted_wald_interval_matches_hand_computation() -> None:
    # Rocks (2016) adjusted Wald: n' = n + 3, add ¾ to promoters and to detractors.
    # 50 P / 30 passive / 20 D: p_P' = 50.75/103 = 0.492718, p_D' = 20.75/103 = 0.201456,
    # NPS' = 0.291262, var = (p_P' + p_D' − NPS'²)/103 = 0.00591593, half = 1.95996·0.0769151
    # = 0.150751 → [14.0511, 44.2013] points; the point estimate stays the raw NPS 30.
    ci = nps_ci(NpsCounts(50, 30, 20))
    assert ci.value == pytest.approx(30.0)
    assert ci.low == pytest.approx(14.0511, abs=1e-3)
    assert ci.high == pytest.approx(44.2013, abs=1e-3)


def test_adjusted_wald_difference_matches_hand_computation() -> None:
    # Treated 50/30/20 as above; control 40/30/30: NPS' = (40.75 − 30.75)/103 = 0.0970874,
    # var = (71.5/103 − 0.0970874²)/103 = 0.00664805. Difference 0.194175 ± 1.95996 ·
    # sqrt(0.00591593 + 0.00664805) = ± 0.219687 → [−2.5516, 41.3865] points, z-test p = 0.08322.
    diff = nps_difference(NpsCounts(50, 30, 20), NpsCounts(40, 30, 30))
    assert diff.value == pytest.approx(20.0)
    assert diff.low == pytest.approx(-2.5516, abs=1e-3)
    assert diff.high == pytest.approx(41.3865, abs=1e-3)
    assert diff.p_value == pytest.approx(0.08322, abs=1e-4)
    assert not diff.significant


def test_difference_approaches_trinomial_means_interval_for_large_samples() -> None:
    # For large n the adjustment vanishes and the interval is the z interval of the difference
    # of means of the +100/0/−100 contributions (statsmodels CompareMeans, separate variances).
    treated = [100.0] * 5000 + [0.0] * 3000 + [-100.0] * 2000
    control = [100.0] * 4500 + [0.0] * 3000 + [-100.0] * 2500
    reference = CompareMeans(DescrStatsW(treated), DescrStatsW(control)).zconfint_diff(
        usevar="unequal"
    )
    ours = nps_difference(NpsCounts(5000, 3000, 2000), NpsCounts(4500, 3000, 2500))
    assert np.allclose([ours.low, ours.high], reference, atol=0.05)


def test_empty_arm_gives_no_estimate() -> None:
    assert math.isnan(nps_difference(NpsCounts(1, 0, 0), NpsCounts(0, 0, 0)).value)
    assert math.isnan(nps_ci(NpsCounts(0, 0, 0)).low)
