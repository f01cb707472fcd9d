"""Shares, differences and ratios of shares, differences of means — against published values."""

import math

import pytest

from netcx.domain.measurement.intervals import (
    mean_difference,
    share_ci,
    share_difference,
    share_ratio,
)

# Newcombe RG (1998a) "Two-sided confidence intervals for the single proportion: comparison of
# seven methods", Stat Med 17:857-872, Table II, method 3 (Wilson score, no continuity corr.).
WILSON_NEWCOMBE_1998A = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("x", "n", "low", "high"), WILSON_NEWCOMBE_1998A)
def test_wilson_interval_matches_newcombe_table(x: int, n: int, low: float, high: float) -> None:
    ci = share_ci(x, n)
    assert ci.value == pytest.approx(x / n)
    assert ci.low == pytest.approx(low, abs=6e-5)
    assert ci.high == pytest.approx(high, abs=6e-5)
    assert ci.n == n


def test_agresti_coull_interval_matches_hand_computation() -> None:
    # Agresti & Coull (1998): add z²/2 successes and z² trials, then Wald.
    # 81/263: ñ = 263 + 1.96² = 266.8415, p̃ = (81 + 1.9207)/ñ = 0.310750,
    # half = 1.96·sqrt(p̃(1−p̃)/ñ) = 0.055528 → [0.255222, 0.366278].
    ci = share_ci(81, 263, method="agresti_coull")
    assert ci.low == pytest.approx(0.255222, abs=2e-5)
    assert ci.high == pytest.approx(0.366278, abs=2e-5)


def test_empty_sample_has_no_estimate_and_bad_counts_are_refused() -> None:
    assert math.isnan(share_ci(0, 0).value)
    with pytest.raises(ValueError, match="successes <= n"):
        share_ci(5, 3)


# Newcombe RG (1998b) "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Stat Med 17:873-890, Table II, method 10 (hybrid score).
NEWCOMBE_1998B = [
    ((56, 70, 48, 80), 0.0524, 0.3339),
    ((9, 10, 3, 10), 0.1705, 0.8090),
    ((6, 7, 2, 7), 0.0582, 0.8062),
    ((5, 56, 0, 29), -0.0381, 0.1926),
    ((0, 10, 0, 20), -0.1611, 0.2775),
    ((0, 10, 0, 10), -0.2775, 0.2775),
    ((10, 10, 0, 20), 0.6791, 1.0000),
    ((10, 10, 0, 10), 0.6075, 1.0000),
]


@pytest.mark.parametrize(("counts", "low", "high"), NEWCOMBE_1998B)
def test_difference_of_shares_matches_newcombe_table(
    counts: tuple[int, int, int, int], low: float, high: float
) -> None:
    diff = share_difference(*counts)
    x1, n1, x2, n2 = counts
    assert diff.value == pytest.approx(x1 / n1 - x2 / n2)
    assert diff.low == pytest.approx(low, abs=6e-5)
    assert diff.high == pytest.approx(high, abs=6e-5)
    assert (diff.n_treated, diff.n_control) == (n1, n2)


def test_difference_p_value_agrees_with_interval() -> None:
    assert share_difference(56, 70, 48, 80).significant  # interval excludes 0
    assert not share_difference(5, 56, 0, 29).significant  # interval covers 0
    assert share_difference(0, 10, 0, 10).p_value == 1.0


def test_ratio_of_shares_matches_hand_computed_log_interval() -> None:
    # Adjusted log interval: add 0.5 to each cell. 30/100 vs 20/100:
    # r̃ = (30.5/100.5)/(20.5/100.5) = 1.48780, se(log) = sqrt(1/30.5 − 1/100.5 + 1/20.5 − 1/100.5)
    # = 0.24833; exp(log r̃ ± 1.95996·se) = [0.91447, 2.42060].
    ratio = share_ratio(30, 100, 20, 100)
    assert ratio.value == pytest.approx(1.5)
    assert ratio.low == pytest.approx(0.91447, abs=5e-5)
    assert ratio.high == pytest.approx(2.42060, abs=5e-5)


# R: t.test(extra ~ group, data = sleep) (Welch), the "sleep" data of Student (1908):
# t = -1.8608, df = 17.776, p-value = 0.07939, 95 % CI -3.3654832 0.2054832.
SLEEP_GROUP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_GROUP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_mean_difference_matches_r_welch_t_test_on_sleep_data() -> None:
    diff = mean_difference(SLEEP_GROUP_1, SLEEP_GROUP_2)
    assert diff.value == pytest.approx(-1.58)
    assert diff.low == pytest.approx(-3.3654832, abs=1e-6)
    assert diff.high == pytest.approx(0.2054832, abs=1e-6)
    assert diff.p_value == pytest.approx(0.07939, abs=1e-5)


def test_mean_difference_of_constant_samples_is_exact() -> None:
    diff = mean_difference([1.0, 1.0, 1.0], [1.0, 1.0])
    assert (diff.value, diff.low, diff.high, diff.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert math.isnan(mean_difference([1.0], [2.0, 3.0]).value)
