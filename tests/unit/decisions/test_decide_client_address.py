"""The client address decide and CAMARA hand on: the collector's rule over an ASGI scope."""

from __future__ import annotations

import pytest

from netcx.domain.events import ClientAddress
from netcx.entrypoints.http.client import scope_client_address, trusted_proxies
from netcx.errors import ConfigError

TRUSTED = trusted_proxies(["10.0.0.0/8"])
PORT = b"x-client-port"


def scope(peer: tuple[str, object] | None, *headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"type": "http", "client": peer, "headers": list(headers)}


@pytest.mark.parametrize(
    ("peer", "headers", "want"),
    [
        # An untrusted peer is the client; its forwarding headers are ignored.
        (("203.0.113.9", 4000), [(b"x-forwarded-for", b"198.51.100.1")], ("203.0.113.9", 4000)),
        # A trusted peer's X-Forwarded-For is walked from the right over trusted hops.
        (
            ("10.0.0.1", 4000),
            [(b"x-forwarded-for", b"198.51.100.1, 10.2.2.2"), (PORT, b"27310")],
            ("198.51.100.1", 27310),
        ),
        # Forwarded (RFC 7239) wins over X-Forwarded-For; its port wins over the header.
        (
            ("10.0.0.1", 4000),
            [
                (b"forwarded", b'for="203.0.113.10:1500"'),
                (b"x-forwarded-for", b"198.51.100.1"),
                (PORT, b"27310"),
            ],
            ("203.0.113.10", 1500),
        ),
        # Repeated header lines form one list: the last line is nearest.
        (
            ("10.0.0.1", 4000),
            [(b"forwarded", b"for=198.51.100.1"), (b"forwarded", b"for=203.0.113.10")],
            ("203.0.113.10", None),
        ),
        # A trusted peer that forwards nothing is itself the client (never "no address").
        (("10.0.0.1", "4000"), [], ("10.0.0.1", 4000)),
        # An unknown hop nearest to us: the proxy is all we know (no line, no recognition).
        (
            ("10.0.0.1", 4000),
            [(b"forwarded", b'for="203.0.113.10:1500", for=unknown')],
            ("10.0.0.1", 4000),
        ),
        # An IPv4-mapped peer is the IPv4 proxy.
        (
            ("::ffff:10.1.2.3", 4000),
            [(b"x-forwarded-for", b"203.0.113.10")],
            ("203.0.113.10", None),
        ),
    ],
)
def test_the_client_is_the_nearest_untrusted_hop_of_a_trusted_peer(
    peer: tuple[str, object], headers: list[tuple[bytes, bytes]], want: tuple[str, int | None]
) -> None:
    assert scope_client_address(scope(peer, *headers), TRUSTED, PORT) == ClientAddress(*want)


def test_no_peer_address_is_none() -> None:
    assert scope_client_address(scope(None), TRUSTED, PORT) is None
    assert scope_client_address(scope(("testclient", 50000)), TRUSTED, PORT) is None


def test_a_bad_trusted_proxy_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"http\.trusted_proxies"):
        trusted_proxies(["10.0.0.0/33"])
