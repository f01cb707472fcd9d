"""Multiple comparisons: Holm's step-down adjustment of p-values across experiences."""

from __future__ import annotations

import math
from collections.abc import Sequence

from statsmodels.stats.multitest import multipletests


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (family-wise error control); NaN entries stay NaN, uncounted."""
    finite = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    if finite:
        _, corrected, _, _ = multipletests([p_values[i] for i in finite], method="holm")
        for i, p in zip(finite, corrected, strict=True):
            adjusted[i] = float(p)
    return adjusted
