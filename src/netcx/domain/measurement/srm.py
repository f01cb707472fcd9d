"""Sample-ratio mismatch: does the observed split between arms match the designed split?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import chisquare

SRM_P_THRESHOLD = 0.001
"""Conventional SRM alarm level (Fabijan et al. 2019): strict, because the check runs often and
a real mismatch usually gives a far smaller p-value."""


@dataclass(frozen=True)
class SrmCheck:
    observed: tuple[int, ...]
    expected_shares: tuple[float, ...]
    chi2: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_P_THRESHOLD

    def as_dict(self) -> dict[str, object]:
        return {
            "observed": list(self.observed),
            "expected_shares": list(self.expected_shares),
            "chi2": self.chi2,
            "p_value": self.p_value,
            "mismatch": self.mismatch,
        }


def sample_ratio_check(observed: Sequence[int], expected_shares: Sequence[float]) -> SrmCheck:
    """Pearson chi-square goodness-of-fit of arm sizes against the designed shares."""
    if len(observed) != len(expected_shares) or len(observed) < 2:
        raise ValueError("sample_ratio_check: one expected share per arm, at least two arms")
    total_share = sum(expected_shares)
    if total_share <= 0 or any(s <= 0 for s in expected_shares):
        raise ValueError(f"sample_ratio_check: shares must be positive, got {expected_shares}")
    total = sum(observed)
    shares = tuple(s / total_share for s in expected_shares)
    if total == 0:
        return SrmCheck(tuple(observed), shares, 0.0, 1.0)
    result = chisquare(list(observed), f_exp=[s * total for s in shares])
    return SrmCheck(tuple(observed), shares, float(result.statistic), float(result.pvalue))
