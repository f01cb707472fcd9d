"""Identity graph rules: login authenticates, network evidence expires and never merges."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netcx.domain.consent import Purpose
from netcx.domain.identity import (
    Edge,
    EdgeSource,
    RecognitionState,
    crm_ids,
    edges_from_resolution,
    linked_visitors,
    login_edge,
    observe,
    recognition_of,
    retract,
    strongest_link,
)
from netcx.domain.resolution import Evidence, Level, Resolution

V1, V2 = "vi1_" + "a" * 24, "vi1_" + "b" * 24
L1, L2 = "ln1_" + "1" * 24, "ln1_" + "4" * 24
S1, S2 = "sb1_" + "2" * 24, "sb1_" + "5" * 24
H1 = "hh1_" + "3" * 24
A1 = "ac1_" + "6" * 24

LINE_RES = Resolution(
    level=Level.LINE,
    reason="port_block",
    confidence=0.95,
    line_id=L1,
    subscriber_id=S1,
    household_id=H1,
    account_id=A1,
    evidence=(Evidence(kind="port_block", ref="blk-1"),),
)


def test_line_resolution_gives_a_network_edge_with_ttl_and_crm_edges() -> None:
    edges = edges_from_resolution(V1, LINE_RES, 1_000, ttl_s=60, evidence=["ev1_x"])
    network = edges[0]
    assert (network.src, network.dst, network.source) == (V1, L1, EdgeSource.NETWORK)
    assert network.expires_ms == 61_000
    assert network.active_at(60_999) and not network.active_at(61_000)
    assert {(e.src, e.dst) for e in edges[1:]} >= {(L1, S1), (L1, H1), (H1, A1)}
    assert all(e.source is EdgeSource.CRM and e.ttl_s is None for e in edges[1:])


def test_unknown_resolution_gives_no_edges() -> None:
    assert edges_from_resolution(V1, Resolution.unknown("not_ours"), 1, 60, []) == []


def test_recognition_walks_crm_edges_from_the_line() -> None:
    edges = edges_from_resolution(V1, LINE_RES, 1_000, ttl_s=60, evidence=["ev1_x"])
    link = strongest_link(edges[:1], 2_000, use_network=True)
    r = recognition_of(V1, Purpose.PERSONALISATION, True, link, edges[1:], 2_000)
    assert r.state is RecognitionState.NETWORK_LINE
    assert (r.line_id, r.subscriber_id, r.household_id, r.account_id) == (L1, S1, H1, A1)
    assert r.confidence == 0.95 and r.evidence == ("ev1_x",)


def test_network_edge_expires() -> None:
    (network, *_) = edges_from_resolution(V1, LINE_RES, 1_000, ttl_s=60, evidence=[])
    assert strongest_link([network], 70_000, use_network=True) is None


def test_without_consent_network_edges_do_not_count() -> None:
    (network, *_) = edges_from_resolution(V1, LINE_RES, 1_000, ttl_s=60, evidence=[])
    link = strongest_link([network], 2_000, use_network=False)
    r = recognition_of(V1, Purpose.MARKETING, False, link, [], 2_000)
    assert r.state is RecognitionState.ANONYMOUS and r.reason == "no_consent"
    assert r.line_id is None


def test_login_beats_network_even_when_they_disagree() -> None:
    (network, *_) = edges_from_resolution(V1, LINE_RES, 1_000, ttl_s=60, evidence=[])
    login = login_edge(V1, S2, 1_500)
    link = strongest_link([network, login], 2_000, use_network=True)
    assert link == login
    r = recognition_of(V1, Purpose.PERSONALISATION, True, link, [], 2_000)
    assert r.state is RecognitionState.AUTHENTICATED and r.subscriber_id == S2
    assert r.line_id is None  # the network line of S1 is not attached to S2


def test_line_beats_household() -> None:
    hh = Edge(V1, H1, EdgeSource.NETWORK, 0.99, 1, 1, ttl_s=60)
    line = Edge(V1, L1, EdgeSource.NETWORK, 0.8, 1, 1, ttl_s=60)
    assert strongest_link([hh, line], 2, use_network=True) == line
    r = recognition_of(V1, Purpose.ANALYTICS, True, hh, [], 2)
    assert r.state is RecognitionState.NETWORK_HOUSEHOLD and r.household_id == H1


def test_network_never_ties_an_authenticated_visitor_to_another_customer() -> None:
    # V1 logged in as S2; both V1 and V2 share S1's line address.
    v1 = [login_edge(V1, S2, 10), Edge(V1, L1, EdgeSource.NETWORK, 0.9, 20, 20, ttl_s=600)]
    v2 = [Edge(V2, L1, EdgeSource.NETWORK, 0.9, 20, 20, ttl_s=600)]
    linked = linked_visitors({S1, L1}, {V1: v1, V2: v2}, 30)
    assert set(linked) == {V2}
    assert set(linked_visitors({S2}, {V1: v1, V2: v2}, 30)) == {V1}


def test_observe_widens_the_window_and_keeps_newest_confidence() -> None:
    a = Edge(V1, L1, EdgeSource.NETWORK, 0.5, 100, 100, ttl_s=60, evidence=("ev1_a",))
    b = Edge(V1, L1, EdgeSource.NETWORK, 0.9, 200, 200, ttl_s=30, evidence=("ev1_b",))
    m = observe(a, b)
    assert (m.first_seen_ms, m.last_seen_ms, m.confidence, m.ttl_s) == (100, 200, 0.9, 30)
    assert m.evidence == ("ev1_b", "ev1_a")
    late = observe(m, Edge(V1, L1, EdgeSource.NETWORK, 0.1, 50, 50, ttl_s=5))
    assert (late.first_seen_ms, late.last_seen_ms, late.confidence) == (50, 200, 0.9)


def test_unmerge_is_sticky_against_network_but_a_new_login_reasserts() -> None:
    wrong = retract(login_edge(V1, S1, 100), 150, "ops")
    assert strongest_link([wrong], 160, use_network=True) is None
    net = Edge(V1, L1, EdgeSource.NETWORK, 0.9, 200, 200, ttl_s=60)
    assert observe(retract(net, 250, "ops"), net).retracted_ms == 250
    again = observe(wrong, login_edge(V1, S1, 300))
    assert again.retracted_ms is None and again.active_at(301)
    assert observe(wrong, login_edge(V1, S1, 120)).retracted_ms == 150


def test_crm_ids_stop_at_unknown_kinds() -> None:
    edges = [Edge(L1, S1, EdgeSource.CRM, 1.0, 1, 1), Edge(S1, H1, EdgeSource.CRM, 1.0, 1, 1)]
    assert crm_ids(L1, edges, 5) == {
        "line": L1,
        "subscriber": S1,
        "household": H1,
    }


edge_times = st.tuples(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0, max_value=1),
)


@given(st.lists(edge_times, min_size=1, max_size=8))
def test_observe_order_does_not_change_the_seen_window(obs: list[tuple[int, int, float]]) -> None:
    edges = [Edge(V1, L1, EdgeSource.NETWORK, c, min(a, b), max(a, b), ttl_s=60) for a, b, c in obs]
    forward = None
    for e in edges:
        forward = observe(forward, e)
    backward = None
    for e in reversed(edges):
        backward = observe(backward, e)
    assert forward is not None and backward is not None
    assert (forward.first_seen_ms, forward.last_seen_ms) == (
        backward.first_seen_ms,
        backward.last_seen_ms,
    )
    assert forward.first_seen_ms == min(e.first_seen_ms for e in edges)
    assert forward.last_seen_ms == max(e.last_seen_ms for e in edges)


@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=600),
)
def test_an_active_login_always_beats_network(login_ms: int, net_ms: int, ttl_s: int) -> None:
    net = Edge(V1, L1, EdgeSource.NETWORK, 1.0, net_ms, net_ms, ttl_s=ttl_s)
    login = login_edge(V1, S2, login_ms)
    at = max(login_ms, net_ms)
    assert strongest_link([net, login], at, use_network=True) == login
    expired = strongest_link([net], net_ms + ttl_s * 1000, use_network=True)
    assert expired is None
