from __future__ import annotations

import pytest

from netcx.domain.network.deterministic import DeterministicNat, DeterministicRule
from netcx.domain.network.plan import AddressPlan
from netcx.errors import InvalidInput


def test_pool_lookup_is_longest_prefix_and_foreign_is_none(plan: AddressPlan) -> None:
    assert plan.pool_of("203.0.113.10").kind == "cgnat_outside"  # type: ignore[union-attr]
    assert plan.pool_of("203.0.113.130").kind == "cgnat_deterministic"  # type: ignore[union-attr]
    assert plan.pool_of("2001:db8:8000:12::1").kind == "ipv6_fixed_pd"  # type: ignore[union-attr]
    assert plan.pool_of("240.1.2.3") is None
    assert plan.pool_of("2001:db9::1") is None


def test_bad_address_and_bad_plan_name_the_field(plan: AddressPlan) -> None:
    with pytest.raises(InvalidInput, match="ip"):
        plan.pool_of("not-an-ip")
    with pytest.raises(InvalidInput, match=r"pools\.kind"):
        AddressPlan.from_json({"pools": [{"cidr": "10.0.0.0/8", "kind": "bogus"}]})


def test_rfc7422_worked_example_forward_and_reverse() -> None:
    # network-logs.md §2.3: I0 = 100.64.0.0/22, O0 = 203.0.113.0/27, P0 = 1024, B = 2016.
    nat = DeterministicNat(
        [DeterministicRule("det", "vrf", ["100.64.0.0/22"], ["203.0.113.0/27"], 1024, 2016)]
    )
    assert nat.forward("100.64.1.77", 0) == ("203.0.113.10", 27232, 29247)
    found = nat.reverse("203.0.113.10", 28000, 0)
    assert not isinstance(found, str) and found is not None
    assert found[1].inside_ip == "100.64.1.77"
    assert nat.reverse("203.0.113.10", 1000, 0) == "overflow"  # below P0
    last = nat.reverse("203.0.113.10", 65535, 0)  # 1024 + 32 × 2016 = 65536: no overflow area
    assert last is not None and not isinstance(last, str) and last[1].port_hi == 65535


def test_rule_versions_apply_only_in_their_validity() -> None:
    old = DeterministicRule(
        "det", "v", ["100.64.0.0/24"], ["203.0.113.0/30"], 1024, 2016, valid_to_ms=1000
    )
    new = DeterministicRule(
        "det", "v", ["100.64.1.0/24"], ["203.0.113.0/30"], 1024, 2016, valid_from_ms=1000
    )
    nat = DeterministicNat([old, new])
    a = nat.reverse("203.0.113.0", 1024, 999)
    b = nat.reverse("203.0.113.0", 1024, 1000)
    assert a is not None and not isinstance(a, str) and a[1].inside_ip == "100.64.0.0"
    assert b is not None and not isinstance(b, str) and b[1].inside_ip == "100.64.1.0"
    assert nat.reverse("203.0.113.99", 1024, 5) is None
