"""Sticky salted holdout assignment and the sample-ratio-mismatch check."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netcx.domain.decisions.holdouts import bucket, in_experience_holdout, srm_check
from netcx.domain.decisions.ids import decision_id


@given(st.text(min_size=1), st.text(min_size=8))
def test_bucket_is_sticky_and_in_range(account: str, salt: str) -> None:
    b = bucket(salt, account, "universal")
    assert 0.0 <= b < 1.0
    assert b == bucket(salt, account, "universal")


def test_salt_and_scope_redraw_independently() -> None:
    accounts = [f"ac1_{i}" for i in range(20_000)]
    a = [bucket("salt-one-x", x, "universal") < 0.1 for x in accounts]
    b = [bucket("salt-two-x", x, "universal") < 0.1 for x in accounts]
    c = [in_experience_holdout("salt-one-x", x, "save", 0.1) for x in accounts]
    for flags in (a, b, c):
        assert 0.09 < sum(flags) / len(flags) < 0.11
    both = sum(x and y for x, y in zip(a, b, strict=True)) / len(accounts)
    assert 0.005 < both < 0.015  # ≈ 0.1 × 0.1: independent draws
    assert sum(x and y for x, y in zip(a, c, strict=True)) / len(accounts) < 0.015


def test_srm_flags_a_broken_split_and_passes_a_fair_one() -> None:
    fair = srm_check(
        "universal", {"control": 498, "eligible": 9502}, {"control": 0.05, "eligible": 0.95}
    )
    assert not fair.mismatch and fair.p_value > 0.5
    broken = srm_check(
        "universal", {"control": 700, "eligible": 9300}, {"control": 0.05, "eligible": 0.95}
    )
    assert broken.mismatch and broken.p_value < 1e-6 and broken.chi2 > 50
    empty = srm_check("universal", {}, {"control": 0.05, "eligible": 0.95})
    assert not empty.mismatch and empty.p_value == 1.0


def test_decision_ids_are_unique_and_time_ordered() -> None:
    ids = [decision_id(1_700_000_000_000 + i // 10, b"nonce123", i) for i in range(1000)]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids, key=lambda x: x[3:16])
    assert decision_id(5, b"a", 1) != decision_id(5, b"b", 1)


def test_webhook_signature_verifies_body_secret_and_age() -> None:
    from netcx.domain.decisions.triggers import sign, verify

    header = sign(b"s3cret", 1_780_000_000, b'{"a":1}')
    assert verify(b"s3cret", header, b'{"a":1}', now_s=1_780_000_100)
    assert not verify(b"s3cret", header, b'{"a":2}', now_s=1_780_000_100)  # tampered body
    assert not verify(b"other", header, b'{"a":1}', now_s=1_780_000_100)  # wrong secret
    assert not verify(b"s3cret", header, b'{"a":1}', now_s=1_780_000_400)  # replayed late
    assert not verify(b"s3cret", "garbage", b'{"a":1}', now_s=1_780_000_100)
