"""Sticky holdout assignment by a salted hash of the billing account, and the SRM check."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import msgspec
from scipy.stats import chisquare

UNIVERSAL = "universal"


def bucket(salt: str, account_id: str, scope: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, scope, account): same account, same answer."""
    digest = hashlib.blake2b(f"{salt}\x1f{scope}\x1f{account_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def in_universal_control(salt: str, account_id: str, share: float) -> bool:
    """Member of the universal control group: gets no netcx experience at all."""
    return share > 0.0 and bucket(salt, account_id, UNIVERSAL) < share


def in_experience_holdout(salt: str, account_id: str, experience_id: str, share: float) -> bool:
    """Held out of one experience (independent of the universal group and of other experiences)."""
    return share > 0.0 and bucket(salt, account_id, f"experience:{experience_id}") < share


class SrmResult(msgspec.Struct, frozen=True):
    """Sample-ratio-mismatch check: observed units per group against the configured shares."""

    scope: str
    observed: dict[str, int]
    expected_share: dict[str, float]
    chi2: float
    p_value: float
    mismatch: bool


def srm_check(
    scope: str,
    observed: Mapping[str, int],
    expected_share: Mapping[str, float],
    alpha: float = 0.001,
) -> SrmResult:
    """Chi-square goodness of fit; `mismatch` when p < alpha (the usual SRM alarm level)."""
    groups = sorted(expected_share)
    counts = [int(observed.get(g, 0)) for g in groups]
    total = sum(counts)
    shares = [expected_share[g] for g in groups]
    if total == 0 or any(s <= 0.0 for s in shares):
        return SrmResult(
            scope, dict(zip(groups, counts, strict=True)), dict(expected_share), 0.0, 1.0, False
        )
    norm = sum(shares)
    expected = [total * s / norm for s in shares]
    chi2, p = chisquare(counts, expected)
    return SrmResult(
        scope,
        dict(zip(groups, counts, strict=True)),
        dict(expected_share),
        float(chi2),
        float(p),
        bool(p < alpha),
    )
