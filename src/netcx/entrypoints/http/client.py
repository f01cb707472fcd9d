"""The client address of an ASGI request, by the one rule of `netcx.domain.client_address`."""

from __future__ import annotations

from starlette.types import Scope

from netcx.domain.client_address import TrustedProxies, client_address, parse_port
from netcx.domain.events import ClientAddress
from netcx.errors import ConfigError


def trusted_proxies(cidrs: list[str]) -> TrustedProxies:
    """`http.trusted_proxies` parsed; a bad entry is a ConfigError naming the setting."""
    try:
        return TrustedProxies(cidrs)
    except ValueError as err:
        raise ConfigError(f"http.trusted_proxies: {err}") from err


def scope_client_address(
    scope: Scope, trusted: TrustedProxies, port_header: bytes
) -> ClientAddress | None:
    """The TCP peer, or the nearest untrusted hop a trusted proxy forwarded (`Forwarded`, else
    `X-Forwarded-For`, port from the hop or `port_header`). Repeated header lines count as one
    comma-separated list (RFC 9110 §5.3). None only when the peer has no IP address."""
    peer = scope.get("client")
    headers: dict[bytes, list[bytes]] = {}
    if trusted:
        wanted = (b"forwarded", b"x-forwarded-for", port_header)
        for name, value in scope["headers"]:
            if name in wanted:
                headers.setdefault(name, []).append(value)

    def joined(name: bytes) -> str | None:
        values = headers.get(name)
        return b", ".join(values).decode("latin-1") if values else None

    return client_address(
        peer[0] if peer else None,
        # ASGI says int; some servers (granian) hand the port over as a string.
        parse_port(str(peer[1])) if peer and peer[1] is not None else None,
        trusted,
        forwarded=joined(b"forwarded"),
        x_forwarded_for=joined(b"x-forwarded-for"),
        client_port=joined(port_header),
    )
