"""Client address from the TCP peer or trusted-proxy headers (RFC 7239 Forwarded, XFF, port)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netcx.domain.client_address import (
    Hop,
    TrustedProxies,
    client_address,
    forwarded_hops,
    parse_node,
    x_forwarded_for_hops,
)
from netcx.domain.events import ClientAddress

PROXIES = TrustedProxies(["10.0.0.0/8", "2001:db8:ffff::/48"])
ipv4 = st.ip_addresses(v=4).filter(lambda ip: ip not in ipaddress.ip_network("10.0.0.0/8"))
ipv6 = st.ip_addresses(v=6).filter(
    lambda ip: ip not in ipaddress.ip_network("2001:db8:ffff::/48") and ip.ipv4_mapped is None
)
clients = st.one_of(ipv4, ipv6)
trusted_hops = st.lists(
    st.one_of(st.ip_addresses(network="10.0.0.0/8"), st.ip_addresses(network="2001:db8:ffff::/48")),
    max_size=3,
)
ports = st.integers(1, 65535)


def forwarded_node(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int | None) -> str:
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    text = host if port is None else f"{host}:{port}"
    return f'"{text}"' if (port is not None or ip.version == 6) else text


def test_untrusted_peer_is_the_client_whatever_the_headers_say() -> None:
    got = client_address(
        "198.51.100.9",
        50123,
        PROXIES,
        forwarded="for=203.0.113.5:4711",
        x_forwarded_for="203.0.113.5",
        client_port="4711",
    )
    assert got == ClientAddress("198.51.100.9", 50123)


def test_rfc7239_examples() -> None:
    assert forwarded_hops('for="_gazonk"') == [Hop(None)]
    assert forwarded_hops('For="[2001:db8:cafe::17]:4711"') == [
        Hop(ipaddress.ip_address("2001:db8:cafe::17"), 4711)
    ]
    assert forwarded_hops("for=192.0.2.60;proto=http;by=203.0.113.43") == [
        Hop(ipaddress.ip_address("192.0.2.60"))
    ]
    assert forwarded_hops("for=192.0.2.43, for=198.51.100.17") == [
        Hop(ipaddress.ip_address("192.0.2.43")),
        Hop(ipaddress.ip_address("198.51.100.17")),
    ]
    assert forwarded_hops('for=unknown, for="10.1.2.3:_port"') == [
        Hop(None),
        Hop(ipaddress.ip_address("10.1.2.3"), None),
    ]


def test_trusted_peer_forwarded_with_bracketed_ipv6_and_port() -> None:
    got = client_address(
        "10.0.0.2", 443, PROXIES, forwarded='for="[2001:db8:4000::1]:51000";proto=https'
    )
    assert got == ClientAddress("2001:db8:4000::1", 51000)


def test_xff_is_read_from_the_right_skipping_trusted_hops_and_takes_the_port_header() -> None:
    got = client_address(
        "10.0.0.2",
        443,
        PROXIES,
        x_forwarded_for="6.6.6.6, 203.0.113.5, 10.9.9.9",
        client_port="61000",
    )
    # 6.6.6.6 was written by the client itself: only the nearest untrusted hop counts.
    assert got == ClientAddress("203.0.113.5", 61000)


def test_forwarded_wins_over_xff_and_bad_port_header_is_ignored() -> None:
    got = client_address(
        "10.0.0.2",
        443,
        PROXIES,
        forwarded="for=192.0.2.7",
        x_forwarded_for="198.51.100.1",
        client_port="99999",
    )
    assert got == ClientAddress("192.0.2.7", None)


def test_unknown_hop_stops_the_walk_at_the_nearest_known_proxy() -> None:
    got = client_address(
        "10.0.0.2", 443, PROXIES, forwarded="for=192.0.2.7, for=unknown, for=10.1.1.1"
    )
    assert got == ClientAddress("10.1.1.1", None)


def test_ipv4_mapped_peer_is_normalised() -> None:
    assert client_address("::ffff:198.51.100.4", 1234, PROXIES) == ClientAddress(
        "198.51.100.4", 1234
    )


def test_no_peer_no_address() -> None:
    assert client_address(None, None, PROXIES, forwarded="for=192.0.2.1") is None


@pytest.mark.parametrize(
    ("text", "hop"),
    [
        ("192.0.2.1:80", Hop(ipaddress.ip_address("192.0.2.1"), 80)),
        ("[2001:db8::1]", Hop(ipaddress.ip_address("2001:db8::1"))),
        ("2001:db8::1", Hop(ipaddress.ip_address("2001:db8::1"))),
        ("[2001:db8::1", Hop(None)),
        ("[nope]:80", Hop(None)),
        ("host.example:80", Hop(None)),
        ("192.0.2.1:0", Hop(ipaddress.ip_address("192.0.2.1"), None)),
    ],
)
def test_parse_node(text: str, hop: Hop) -> None:
    assert parse_node(text) == hop


@given(client=clients, port=st.none() | ports, hops=trusted_hops, peer=trusted_hops.filter(bool))
def test_forwarded_chain_through_trusted_proxies_yields_the_client(
    client: ipaddress.IPv4Address | ipaddress.IPv6Address,
    port: int | None,
    hops: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    peer: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> None:
    header = ", ".join(
        [f"for={forwarded_node(client, port)};proto=https"]
        + [f"for={forwarded_node(h, None)}" for h in hops]
    )
    got = client_address(str(peer[0]), 443, PROXIES, forwarded=header)
    assert got == ClientAddress(str(client), port)


@given(spoofed=st.lists(clients, max_size=3), client=clients, hops=trusted_hops, port=ports)
def test_xff_chain_ignores_what_the_client_prepended(
    spoofed: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    client: ipaddress.IPv4Address | ipaddress.IPv6Address,
    hops: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    port: int,
) -> None:
    header = ", ".join(str(ip) for ip in [*spoofed, client, *hops])
    got = client_address("10.0.0.1", 443, PROXIES, x_forwarded_for=header, client_port=str(port))
    assert got == ClientAddress(str(client), port)


@given(
    peer=clients,
    peer_port=ports,
    forwarded=st.text(max_size=80),
    xff=st.text(max_size=80),
    port=st.text(max_size=8),
)
def test_untrusted_peer_always_wins(
    peer: ipaddress.IPv4Address | ipaddress.IPv6Address,
    peer_port: int,
    forwarded: str,
    xff: str,
    port: str,
) -> None:
    got = client_address(
        str(peer), peer_port, PROXIES, forwarded=forwarded, x_forwarded_for=xff, client_port=port
    )
    assert got == ClientAddress(str(peer), peer_port)


@given(forwarded=st.text(max_size=120), xff=st.text(max_size=120), port=st.text(max_size=8))
def test_any_header_text_from_a_trusted_peer_gives_a_valid_address(
    forwarded: str, xff: str, port: str
) -> None:
    got = client_address(
        "10.0.0.1", 443, PROXIES, forwarded=forwarded, x_forwarded_for=xff, client_port=port
    )
    assert got is not None
    ipaddress.ip_address(got.ip)
    assert got.port is None or 0 < got.port < 65536
    # a parsed hop list never invents addresses that are not in the header text
    for hop in forwarded_hops(forwarded) + x_forwarded_for_hops(xff):
        assert hop.port is None or 0 < hop.port < 65536


def test_trusted_proxies_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not-a-cidr"):
        TrustedProxies(["not-a-cidr"])
