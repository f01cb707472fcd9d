"""The decision table of network-logs.md §3.8, case by case."""

from __future__ import annotations

import pytest

from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory
from netcx.domain.network.leases import LeasePolicy
from netcx.domain.network.plan import AddressPlan
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.domain.resolution import Level

from .builders import MIN, T0, block, fixed, make_resolver, mobile

A, B = "447700900123", "447700900456"
U1, U2 = "line-0042@isp.example", "line-0043@isp.example"


@pytest.fixture
def deps(
    plan: AddressPlan, nat: DeterministicNat, directory: LineDirectory, pseudonymizer: Pseudonymizer
) -> tuple[AddressPlan, DeterministicNat, LineDirectory, Pseudonymizer]:
    return plan, nat, directory, pseudonymizer


def ln(p: Pseudonymizer, raw: str) -> str:
    return p.pseudonym(IdKind.LINE, raw)


def test_worked_example_cgnat_block_then_radius(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    r = make_resolver(
        plan,
        nat,
        directory,
        p,
        [
            mobile("Start", "S1", A, T0, framed_ip="100.64.12.34"),
            mobile("Interim-Update", "S1", A, T0 + 15 * MIN, framed_ip="100.64.12.34"),
            mobile("Stop", "S1", A, T0 + 90 * MIN, framed_ip="100.64.12.34"),
        ],
        [
            block("alloc", T0, "100.64.12.34", "203.0.113.10", 27232),
            block("release", T0 + 89 * MIN, "100.64.12.34", "203.0.113.10", 27232),
        ],
    )
    res = r.resolve("203.0.113.10", 27300, T0 + 7 * MIN)
    assert res.level is Level.LINE
    assert res.reason == "cgnat_block+radius"
    assert res.line_id == ln(p, "L-mob-1")
    assert res.subscriber_id == p.pseudonym(IdKind.SUBSCRIBER, "S-1")
    assert res.household_id == p.pseudonym(IdKind.HOUSEHOLD, "H-1")
    assert [e.kind for e in res.evidence] == ["port_block", "radius_session"]
    assert res.evidence[1].ref == "192.0.2.20/S1"
    assert "447700900123" not in str(res)  # ids are pseudonyms
    # No port on a shared address: never a guess.
    assert r.resolve("203.0.113.10", None, T0 + 7 * MIN).reason == "no_port"
    # A port outside any logged block.
    assert r.resolve("203.0.113.10", 5000, T0 + 7 * MIN).reason == "no_block"


def test_block_reuse_goes_to_new_holder_and_handover_is_boundary(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [
        mobile("Start", "S1", A, T0, framed_ip="100.64.0.1"),
        mobile("Start", "S2", B, T0, framed_ip="100.64.0.2"),
    ]
    events = [
        block("alloc", T0, "100.64.0.1", "203.0.113.5", 1024),
        block("release", T0 + 10 * MIN, "100.64.0.1", "203.0.113.5", 1024),
        block("alloc", T0 + 10 * MIN, "100.64.0.2", "203.0.113.5", 1024),
    ]
    r = make_resolver(plan, nat, directory, p, records, events)
    assert r.resolve("203.0.113.5", 1100, T0 + 9 * MIN).line_id == ln(p, "L-mob-1")
    assert r.resolve("203.0.113.5", 1100, T0 + 11 * MIN).line_id == ln(p, "L-mob-2")
    near = r.resolve("203.0.113.5", 1100, T0 + 10 * MIN + 500)
    assert (near.level, near.reason) == (Level.UNKNOWN, "boundary")


def test_lost_release_is_closed_by_next_allocation(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [
        mobile("Start", "S1", A, T0, framed_ip="100.64.0.1"),
        mobile("Start", "S2", B, T0, framed_ip="100.64.0.2"),
        mobile("Interim-Update", "S2", B, T0 + 30 * MIN, framed_ip="100.64.0.2"),
    ]
    events = [
        block("alloc", T0, "100.64.0.1", "203.0.113.5", 1024),
        block("alloc", T0 + 30 * MIN, "100.64.0.2", "203.0.113.5", 1024),
    ]
    r = make_resolver(plan, nat, directory, p, records, events)
    later = r.resolve("203.0.113.5", 1030, T0 + 40 * MIN)
    assert later.line_id == ln(p, "L-mob-2")
    before = r.resolve("203.0.113.5", 1030, T0 + 20 * MIN)
    assert before.line_id == ln(p, "L-mob-1")
    assert before.evidence[0].detail == "release:inferred_next_alloc"


def test_fixed_public_ip_without_port_is_household_and_ip_reuse(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [
        fixed("Start", "F1", U1, T0, framed_ip="198.18.0.7"),
        fixed("Stop", "F1", U1, T0 + 60 * MIN, framed_ip="198.18.0.7"),
        fixed("Start", "F2", U2, T0 + 61 * MIN, framed_ip="198.18.0.7"),
    ]
    r = make_resolver(plan, nat, directory, p, records)
    res = r.resolve("198.18.0.7", None, T0 + 30 * MIN)
    assert (res.level, res.reason) == (Level.HOUSEHOLD, "radius")
    assert res.household_id == p.pseudonym(IdKind.HOUSEHOLD, "H-1")
    assert res.subscriber_id is None
    after = r.resolve("198.18.0.7", None, T0 + 62 * MIN)
    assert after.household_id == p.pseudonym(IdKind.HOUSEHOLD, "H-3")
    gap = r.resolve("198.18.0.7", None, T0 + 60 * MIN + 30_000)
    assert (gap.level, gap.reason) == (Level.UNKNOWN, "no_lease")
    # within ε after the Stop, nobody else near: clock skew tolerated, confidence lowered
    skew = r.resolve("198.18.0.7", None, T0 + 60 * MIN + 1000)
    assert (skew.level, skew.reason) == (Level.HOUSEHOLD, "radius+skew")
    assert skew.confidence < res.confidence


def test_implicit_close_by_next_start_on_same_address(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [  # S1 never stops; S2 gets the same public address
        fixed("Start", "F1", U1, T0, framed_ip="198.18.0.9"),
        fixed("Start", "F2", U2, T0 + 5 * MIN, framed_ip="198.18.0.9"),
    ]
    r = make_resolver(plan, nat, directory, p, records)
    assert r.resolve("198.18.0.9", None, T0 + 4 * MIN).household_id == p.pseudonym(
        IdKind.HOUSEHOLD, "H-1"
    )
    assert r.resolve("198.18.0.9", None, T0 + 6 * MIN).household_id == p.pseudonym(
        IdKind.HOUSEHOLD, "H-3"
    )
    assert r.resolve("198.18.0.9", None, T0 + 5 * MIN).reason == "boundary"


def test_lost_stop_inferred_tail_then_expired(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [
        fixed("Start", "F1", U1, T0, framed_ip="198.18.0.8"),
        fixed("Interim-Update", "F1", U1, T0 + 15 * MIN, framed_ip="198.18.0.8"),
    ]
    r = make_resolver(
        plan, nat, directory, p, records, policy=LeasePolicy(interim_margin_factor=2.0)
    )
    assert r.resolve("198.18.0.8", None, T0 + 10 * MIN).reason == "radius"
    tail = r.resolve("198.18.0.8", None, T0 + 40 * MIN)  # after last interim, within 2 × 900 s
    assert (tail.level, tail.reason) == (Level.HOUSEHOLD, "radius+inferred_tail")
    assert tail.confidence < 0.9
    assert r.resolve("198.18.0.8", None, T0 + 46 * MIN).reason == "no_lease"


def test_accounting_on_closes_open_sessions_of_that_nas(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    from netcx.domain.network.records import AccountingRecord

    records = [
        fixed("Start", "F1", U1, T0, framed_ip="198.18.0.8"),
        AccountingRecord(status="Accounting-On", nas_ip="192.0.2.10", event_ms=T0 + 5 * MIN),
    ]
    r = make_resolver(plan, nat, directory, p, records)
    assert r.resolve("198.18.0.8", None, T0 + 4 * MIN).level is Level.HOUSEHOLD
    assert r.resolve("198.18.0.8", None, T0 + 6 * MIN).reason == "no_lease"


def test_ipv6_mobile_64_is_line_and_delegated_56_is_household(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [
        mobile("Start", "S1", A, T0, framed_ipv6_prefix="2001:db8:4400:12::/64"),
        fixed(
            "Start",
            "F1",
            U1,
            T0,
            delegated_ipv6_prefix="2001:db8:ab00:1200::/56",
            framed_ipv6_prefix="2001:db8:ab00:1200::/64",
        ),
    ]
    r = make_resolver(plan, nat, directory, p, records)
    m = r.resolve("2001:db8:4400:12:abcd::1", None, T0 + MIN)
    assert (m.level, m.reason, m.line_id) == (Level.LINE, "ipv6_prefix", ln(p, "L-mob-1"))
    h = r.resolve("2001:db8:ab00:12ff::99", None, T0 + MIN)
    assert (h.level, h.household_id) == (Level.HOUSEHOLD, p.pseudonym(IdKind.HOUSEHOLD, "H-1"))
    assert r.resolve("2001:db8:4400:13::1", None, T0 + MIN).level is Level.UNKNOWN
    assert r.resolve("2001:db8:4400:12::1", None, T0 - MIN).level is Level.UNKNOWN


def test_not_ours_infrastructure_and_unknown_line(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [mobile("Start", "S9", "999999", T0, framed_ip="198.18.1.1")]
    r = make_resolver(plan, nat, directory, p, records)
    assert r.resolve("240.1.2.3", 1234, T0).reason == "not_ours"
    assert r.resolve("192.0.2.20", 1234, T0).reason == "infrastructure"
    assert r.resolve("198.18.1.1", None, T0 + 1).reason == "unknown_line"


def test_deterministic_nat_then_radius(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    out_ip, lo, hi = nat.forward("100.65.1.77", T0)  # type: ignore[misc]
    records = [mobile("Start", "S1", B, T0, framed_ip="100.65.1.77")]
    r = make_resolver(plan, nat, directory, p, records)
    res = r.resolve(out_ip, lo + 5, T0 + MIN)
    assert (res.level, res.reason, res.line_id) == (Level.LINE, "nat_rule+radius", ln(p, "L-mob-2"))
    assert res.evidence[0].kind == "nat_rule"
    assert r.resolve(out_ip, None, T0 + MIN).reason == "no_port"
    # the neighbouring range belongs to another inside address that has no lease
    assert r.resolve(out_ip, hi + 1, T0 + MIN).reason == "no_lease"


def test_inside_address_is_scoped_by_vrf(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    # the fixed BNG hands out the same 100.64.0.1 in its own VRF: must not match a mobile block
    records = [fixed("Start", "F1", U1, T0, framed_ip="100.64.0.1")]
    events = [block("alloc", T0, "100.64.0.1", "203.0.113.5", 1024)]
    r = make_resolver(plan, nat, directory, p, records, events)
    assert r.resolve("203.0.113.5", 1030, T0 + MIN).reason == "no_lease"


def test_retransmitted_records_change_nothing(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    once = [
        fixed("Start", "F1", U1, T0, framed_ip="198.18.0.7"),
        fixed("Stop", "F1", U1, T0 + 60 * MIN, framed_ip="198.18.0.7"),
    ]
    r1 = make_resolver(plan, nat, directory, p, once)
    r2 = make_resolver(plan, nat, directory, p, once + once[::-1])
    for t in (T0 - 1, T0 + 1, T0 + 59 * MIN, T0 + 61 * MIN):
        assert r1.resolve("198.18.0.7", None, t) == r2.resolve("198.18.0.7", None, t)


@pytest.mark.parametrize("packed_after", [None, 0, 1, 2])
def test_retention_purge_forgets_old_bindings(deps, packed_after: int | None) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [
        fixed("Start", "F1", U1, T0, framed_ip="198.18.0.7"),
        fixed("Stop", "F1", U1, T0 + 60 * MIN, framed_ip="198.18.0.7"),
        fixed("Start", "F2", U2, T0 + 120 * MIN, framed_ip="198.18.0.7"),
    ]
    events = [
        block("alloc", T0, "100.64.0.1", "203.0.113.5", 1024),
        block("release", T0 + 10 * MIN, "100.64.0.1", "203.0.113.5", 1024),
    ]
    r = make_resolver(plan, nat, directory, p, records, events, packed_after=packed_after)
    assert r.resolve("203.0.113.5", 1100, T0 + MIN).reason == "no_lease"  # the block holds
    assert r.resolve("198.18.0.7", None, T0 + MIN).level is Level.HOUSEHOLD
    assert r.leases.purge_before(T0 + 100 * MIN) == 1
    assert r.blocks.purge_before(T0 + 100 * MIN) == 2
    assert r.resolve("203.0.113.5", 1100, T0 + MIN).reason == "no_block"
    assert r.resolve("198.18.0.7", None, T0 + MIN).reason == "no_lease"
    assert r.resolve("198.18.0.7", None, T0 + 121 * MIN).level is Level.HOUSEHOLD


def test_release_without_alloc_means_held_since_before_the_log(deps) -> None:  # type: ignore[no-untyped-def]
    plan, nat, directory, p = deps
    records = [
        mobile("Start", "S1", A, T0 - 10 * MIN, framed_ip="100.64.0.1"),
        mobile("Start", "S2", B, T0, framed_ip="100.64.0.2"),
    ]
    events = [  # the first line of the log is a release: allocated before the log began
        block("release", T0 + 10 * MIN, "100.64.0.1", "203.0.113.5", 1024),
        block("alloc", T0 + 10 * MIN, "100.64.0.2", "203.0.113.5", 1024),
    ]
    r = make_resolver(plan, nat, directory, p, records, events)
    early = r.resolve("203.0.113.5", 1030, T0 + 5 * MIN)
    assert early.line_id == ln(p, "L-mob-1")
    assert early.evidence[0].detail == "alloc:inferred_before_release"
    # the same-second handover seen in logs with 1 s resolution: ambiguous, never the old one
    assert r.resolve("203.0.113.5", 1030, T0 + 10 * MIN + 300).reason == "boundary"
    assert r.resolve("203.0.113.5", 1030, T0 + 11 * MIN).line_id == ln(p, "L-mob-2")


def test_delegated_prefix_inside_an_infrastructure_aggregate_still_resolves(
    nat: DeterministicNat, directory: LineDirectory, pseudonymizer: Pseudonymizer
) -> None:
    from .conftest import PLAN

    plan = AddressPlan.from_json(
        {
            **PLAN,
            "pools": [*PLAN["pools"], {"cidr": "2001:db8:ab00::/40", "kind": "infrastructure"}],
        }  # type: ignore[list-item]
    )
    records = [fixed("Start", "F1", U1, T0, delegated_ipv6_prefix="2001:db8:ab00:1200::/56")]
    r = make_resolver(plan, nat, directory, pseudonymizer, records)
    assert r.resolve("2001:db8:ab00:1234::1", None, T0 + MIN).level is Level.HOUSEHOLD
    assert r.resolve("2001:db8:ab00:9900::1", None, T0 + MIN).reason == "infrastructure"
