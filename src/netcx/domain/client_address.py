"""Which public IP and source port sent a request: the TCP peer, or forwarded by a trusted proxy.

Headers are believed only when the TCP peer is a trusted proxy; the chain is then walked from
the right (nearest hop first), skipping hops that are themselves trusted proxies. The first
untrusted hop is the client. `Forwarded` (RFC 7239) wins over `X-Forwarded-For`; the port
header (set by the edge proxy) supplies the source port when the chosen hop carries none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from netcx.domain.events import ClientAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A set of CIDRs whose forwarding headers we believe."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        nets: list[IPNetwork] = []
        for cidr in cidrs:
            try:
                nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError as err:
                raise ValueError(f"trusted proxy {cidr!r} is not an IP network: {err}") from err
        self._v4 = [n for n in nets if n.version == 4]
        self._v6 = [n for n in nets if n.version == 6]

    def __bool__(self) -> bool:
        return bool(self._v4 or self._v6)

    def __contains__(self, ip: IPAddress) -> bool:
        nets: list[IPNetwork] = self._v4 if ip.version == 4 else self._v6  # type: ignore[assignment]
        return any(ip in n for n in nets)


@dataclass(frozen=True, slots=True)
class Hop:
    """One node of a forwarding chain; `ip` is None for `unknown` or obfuscated nodes."""

    ip: IPAddress | None
    port: int | None = None


@lru_cache(maxsize=65536)
def parse_ip(text: str) -> IPAddress | None:
    """An IP address, IPv4-mapped IPv6 turned into IPv4; None if `text` is not one.

    Cached: the same peers (proxies, busy clients) come back on every request."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_port(text: str) -> int | None:
    """A TCP port 1..65535 written in decimal digits, else None."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


def parse_node(text: str) -> Hop:
    """A hop written as `ip`, `ip:port`, `[ipv6]`, `[ipv6]:port` or bare IPv6; else unknown."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return Hop(None)
        ip = parse_ip(text[1:end])
        rest = text[end + 1 :]
        if ip is None or not rest:
            return Hop(ip)
        if not rest.startswith(":"):
            return Hop(None)
        # An obfuscated port (`_abc`) keeps the address but says nothing about the port.
        return Hop(ip, parse_port(rest[1:]))
    ip = parse_ip(text)
    if ip is not None:
        return Hop(ip)
    host, sep, port = text.rpartition(":")
    ip = parse_ip(host) if sep and ":" not in host else None
    return Hop(ip, parse_port(port)) if ip is not None else Hop(None)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out: list[str] = []
        escaped = False
        for ch in value[1:-1]:
            if escaped or ch != "\\":
                out.append(ch)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


def forwarded_hops(header: str) -> list[Hop]:
    """The `for=` nodes of a `Forwarded` header, left (client side) to right.

    An element without `for=` counts as an unknown hop: something forwarded the request
    without saying for whom.
    """
    hops: list[Hop] = []
    for element in _split_outside_quotes(header, ","):
        if not element.strip():
            continue
        node: Hop | None = None
        for pair in _split_outside_quotes(element, ";"):
            name, eq, value = pair.partition("=")
            if eq and name.strip().lower() == "for":
                node = parse_node(_unquote(value))
        hops.append(node or Hop(None))
    return hops


def x_forwarded_for_hops(header: str) -> list[Hop]:
    """The entries of an `X-Forwarded-For` header, left (client side) to right."""
    return [parse_node(_unquote(p)) for p in header.split(",") if p.strip()]


def nearest_untrusted(hops: list[Hop], trusted: TrustedProxies) -> Hop | None:
    """Walk from the right over trusted proxies; the first other hop is the client.

    An unknown hop stops the walk: the nearest hop we could read is the best we know (a
    proxy; never attributable). All hops trusted: the leftmost one.
    """
    last: Hop | None = None
    for hop in reversed(hops):
        if hop.ip is None:
            return Hop(last.ip) if last is not None else None
        if hop.ip not in trusted:
            return hop
        last = hop
    return last


def client_address(
    peer_ip: str | None,
    peer_port: int | None,
    trusted: TrustedProxies,
    *,
    forwarded: str | None = None,
    x_forwarded_for: str | None = None,
    client_port: str | None = None,
) -> ClientAddress | None:
    """The request's client address; headers count only when the TCP peer is trusted.

    `forwarded` / `x_forwarded_for` / `client_port` are the header values (several header
    lines joined with commas). The result is None only when there is no peer address.
    """
    peer = parse_ip(peer_ip) if peer_ip else None
    if peer is None:
        return None
    if peer not in trusted:
        return ClientAddress(str(peer), peer_port)
    hop: Hop | None = None
    if forwarded and forwarded.strip():
        hop = nearest_untrusted(forwarded_hops(forwarded), trusted)
    elif x_forwarded_for and x_forwarded_for.strip():
        hop = nearest_untrusted(x_forwarded_for_hops(x_forwarded_for), trusted)
    if hop is None or hop.ip is None:
        return ClientAddress(str(peer), peer_port)
    port = hop.port
    # The edge proxy states the client's source port; a proxy hop's port would be its own.
    if port is None and client_port and hop.ip not in trusted:
        port = parse_port(client_port.rsplit(",", 1)[-1])
    return ClientAddress(str(hop.ip), port)
