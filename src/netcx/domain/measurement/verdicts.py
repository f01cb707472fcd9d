"""Plain-language statements of a comparison's result, for readers who are not statisticians."""

from __future__ import annotations

import math

from netcx.domain.measurement.intervals import ALPHA, Comparison


def _fmt(x: float, unit: str) -> str:
    if unit == "pp":  # shares are stored as fractions, written as percentage points
        x, unit = 100 * x, "pp"
    # One decimal, but small values (0.04 contacts) keep two significant digits.
    number = f"{x:+.1f}" if abs(x) >= 0.95 or x == 0 else f"{x:+.2g}"
    return f"{number} {unit}".rstrip()


def describe_difference(
    what: str,
    diff: Comparison,
    mde: float,
    unit: str,
    adjusted_p: float | None = None,
) -> str:
    """One or two sentences: the estimate, its 95 % interval, significance and power.

    `adjusted_p` is the Holm-adjusted p-value when the comparison is one of several.
    """
    if math.isnan(diff.value):
        return (
            f"{what}: no estimate — one of the groups has no data "
            f"(treated n = {diff.n_treated}, holdout n = {diff.n_control})."
        )
    p = diff.p_value if adjusted_p is None else adjusted_p
    p_text = f"p = {p:.3g}" + (" after Holm correction" if adjusted_p is not None else "")
    head = (
        f"{what}: {_fmt(diff.value, unit)} treated vs holdout "
        f"(95 % CI {_fmt(diff.low, unit)} to {_fmt(diff.high, unit)}; "
        f"n = {diff.n_treated} vs {diff.n_control})."
    )
    if p < ALPHA:
        return f"{head} Significant ({p_text}): unlikely to be chance alone."
    power = (
        f" Underpowered for smaller effects: with these group sizes only a true difference of "
        f"about {_fmt(mde, unit).lstrip('+')} or more would be detected 80 % of the time "
        f"(MDE = {_fmt(mde, unit).lstrip('+')})."
        if math.isfinite(mde)
        else " The groups are too small to estimate the minimum detectable effect."
    )
    return f"{head} Not significant ({p_text}): the interval includes zero.{power}"
