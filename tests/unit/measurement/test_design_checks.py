"""SRM chi-square, Holm adjustment, minimum detectable effect, lead-time summary."""

import math

import pytest
from statsmodels.stats.multitest import multipletests

from netcx.domain.measurement.lead_time import summarise_lead_times
from netcx.domain.measurement.multiplicity import holm_adjust
from netcx.domain.measurement.power import minimum_detectable_difference
from netcx.domain.measurement.srm import sample_ratio_check


def test_srm_detects_the_textbook_mismatch() -> None:
    # Kohavi, Tang & Xu (2020) "Trustworthy Online Controlled Experiments", ch. 21: control
    # 821,588 vs treatment 815,482 users in a 50/50 design → p ≈ 1.8e-6 (chi2 = 22.77, 1 df).
    check = sample_ratio_check([821_588, 815_482], [0.5, 0.5])
    assert check.chi2 == pytest.approx(22.774, abs=1e-3)
    assert check.p_value == pytest.approx(1.8e-6, rel=0.02)
    assert check.mismatch


def test_srm_passes_a_plausible_split_with_unequal_design() -> None:
    # 90/10 design, 905 vs 95: chi2 = 5²/900 + 5²/100 = 0.27778, p = erfc(sqrt(chi2/2)) = 0.5982.
    check = sample_ratio_check([905, 95], [0.9, 0.1])
    assert check.chi2 == pytest.approx(0.277778, abs=1e-6)
    assert check.p_value == pytest.approx(math.erfc(math.sqrt(0.277778 / 2)), abs=1e-6)
    assert not check.mismatch
    with pytest.raises(ValueError, match="positive"):
        sample_ratio_check([1, 2], [0.0, 1.0])


def test_holm_matches_r_p_adjust() -> None:
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") → 0.03 0.06 0.06 0.02 (Holm 1979 step-down).
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # And statsmodels agrees on a larger family, including ties and values capped at 1.
    family = [0.001, 0.2, 0.2, 0.04, 0.5, 0.013, 0.9, 0.0001]
    reference = multipletests(family, method="holm")[1]
    assert holm_adjust(family) == pytest.approx(list(reference))
    adjusted = holm_adjust([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02)
    assert math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.04)


def test_minimum_detectable_difference_matches_normal_formula() -> None:
    # Cohen (1988): MDE = (z_{1−α/2} + z_{power}) · σ · sqrt(1/n₁ + 1/n₂)
    # = (1.959964 + 0.841621) · 1 · sqrt(2/100) = 0.396204 for α = 0.05, power = 0.8.
    assert minimum_detectable_difference(1.0, 100, 100) == pytest.approx(0.396204, abs=1e-5)
    # Scales with σ: NPS with σ = 80 points, 400 vs 100 respondents: 2.801585·80·sqrt(1/400+1/100).
    expected = 2.801585 * 80 * math.sqrt(1 / 400 + 1 / 100)
    assert minimum_detectable_difference(80.0, 400, 100) == pytest.approx(expected, rel=1e-4)
    assert math.isnan(minimum_detectable_difference(1.0, 1, 100))


def test_lead_time_summary() -> None:
    summary = summarise_lead_times([1.0, 5.0, 8.0, 15.0, 40.0])
    assert summary.median_days == 8.0
    assert summary.share_at_least[7].value == pytest.approx(3 / 5)
    assert summary.share_at_least[14].value == pytest.approx(2 / 5)
    assert summary.share_at_least[30].value == pytest.approx(1 / 5)
    assert math.isnan(summarise_lead_times([]).median_days)


def test_verdicts_say_significance_and_power_in_words() -> None:
    from netcx.domain.measurement.intervals import Comparison
    from netcx.domain.measurement.verdicts import describe_difference

    sig = describe_difference("NPS", Comparison(6.0, 2.0, 10.0, 0.003, 900, 100), 4.1, "points")
    assert "Significant (p = 0.003)" in sig
    assert "+6.0 points" in sig and "95 % CI +2.0 points to +10.0 points" in sig
    ns = describe_difference(
        "Churn", Comparison(-0.01, -0.03, 0.01, 0.3, 900, 100), 0.025, "pp", adjusted_p=0.6
    )
    assert "Not significant (p = 0.6 after Holm correction)" in ns
    assert "MDE = 2.5 pp" in ns and "-1.0 pp" in ns
    empty = describe_difference("NPS", Comparison(*[math.nan] * 4, 0, 3), math.nan, "points")
    assert "no estimate" in empty
