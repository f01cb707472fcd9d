"""Net Promoter Score: counts from 0–10 answers, adjusted-Wald intervals for NPS and differences.

NPS = 100 × (share of promoters [9–10] − share of detractors [0–6]). Each answer is a draw from
a trinomial, so the variance of one answer's NPS contribution (+1 / 0 / −1) is
p_P + p_D − (p_P − p_D)². The adjusted-Wald interval (Rocks 2016, *The American Statistician*
70(4), "Interval estimation for the net promoter score") adds 3 to n and ¾ to the promoter and
detractor counts before using that variance; it keeps close to nominal coverage at small n and
near the ends of the scale, where the plain Wald interval does not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from scipy.stats import norm

from netcx.domain.measurement.intervals import ALPHA, Comparison, Interval

PROMOTER_MIN = 9
DETRACTOR_MAX = 6
_ADD_N = 3.0
_ADD_EACH = 0.75


@dataclass(frozen=True)
class NpsCounts:
    promoters: int
    passives: int
    detractors: int

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float:
        """NPS in points (−100 … 100); NaN without answers."""
        if self.n == 0:
            return math.nan
        return 100.0 * (self.promoters - self.detractors) / self.n


def nps_counts(scores: Iterable[int]) -> NpsCounts:
    """Count promoters, passives and detractors among 0–10 answers."""
    promoters = passives = detractors = 0
    for s in scores:
        if not 0 <= s <= 10:
            raise ValueError(f"NPS answer must be 0..10, got {s}")
        if s >= PROMOTER_MIN:
            promoters += 1
        elif s <= DETRACTOR_MAX:
            detractors += 1
        else:
            passives += 1
    return NpsCounts(promoters, passives, detractors)


def nps_contribution(score: int) -> float:
    """One answer's contribution to NPS in points: +100 promoter, 0 passive, −100 detractor."""
    if score >= PROMOTER_MIN:
        return 100.0
    return -100.0 if score <= DETRACTOR_MAX else 0.0


def _adjusted(counts: NpsCounts) -> tuple[float, float]:
    """Adjusted NPS (as a fraction) and the variance of that estimate."""
    n_adj = counts.n + _ADD_N
    p_promoter = (counts.promoters + _ADD_EACH) / n_adj
    p_detractor = (counts.detractors + _ADD_EACH) / n_adj
    centre = p_promoter - p_detractor
    return centre, (p_promoter + p_detractor - centre**2) / n_adj


def nps_ci(counts: NpsCounts, alpha: float = ALPHA) -> Interval:
    """NPS in points with its adjusted-Wald interval (clipped to −100 … 100)."""
    if counts.n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    centre, var = _adjusted(counts)
    half = float(norm.ppf(1 - alpha / 2)) * math.sqrt(var)
    return Interval(
        counts.score, 100 * max(-1.0, centre - half), 100 * min(1.0, centre + half), counts.n
    )


def nps_difference(treated: NpsCounts, control: NpsCounts, alpha: float = ALPHA) -> Comparison:
    """NPS(treated) − NPS(control) in points, adjusted-Wald interval and two-sided z p-value."""
    if treated.n == 0 or control.n == 0:
        return Comparison(math.nan, math.nan, math.nan, math.nan, treated.n, control.n)
    centre_t, var_t = _adjusted(treated)
    centre_c, var_c = _adjusted(control)
    centre = centre_t - centre_c
    se = math.sqrt(var_t + var_c)
    half = float(norm.ppf(1 - alpha / 2)) * se
    p_value = float(2 * norm.sf(abs(centre) / se))
    return Comparison(
        treated.score - control.score,
        100 * max(-2.0, centre - half),
        100 * min(2.0, centre + half),
        p_value,
        treated.n,
        control.n,
    )
