"""Multiple comparisons: Holm's step-down adjustment of p-values across experiences."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm (1979) adjusted p-values; NaN entries stay NaN and are not counted as tests.

    The i-th smallest of m p-values is multiplied by (m − i + 1), then made monotone and capped
    at 1. Written out (it is three lines) because statsmodels' `multipletests(method="holm")`
    runs a full `gc.collect()` per call — a quarter of a second in a loaded process; the unit
    test checks both against R's `p.adjust`.
    """
    finite = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    if not finite:
        return adjusted
    p = np.asarray([p_values[i] for i in finite], dtype=float)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1))
    corrected = np.empty_like(p)
    corrected[order] = np.minimum(stepped, 1.0)
    for i, value in zip(finite, corrected, strict=True):
        adjusted[i] = float(value)
    return adjusted
