"""Forwarding headers are believed only from trusted proxies; raw IPs never reach logs/output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from tests.integration.collect.conftest import WRITE_KEY, collector

pytestmark = pytest.mark.integration

CLIENT_IP = "198.51.100.77"
CLIENT_V6 = "2001:db8:4000::abcd"


def send(base: str, message_id: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/track",
        json={"userId": "u1", "event": "Viewed", "messageId": message_id},
        auth=(WRITE_KEY, ""),
        headers=headers,
    )


def test_headers_from_a_trusted_proxy_give_client_ip_and_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"NETCX_HTTP__TRUSTED_PROXIES": json.dumps(["127.0.0.0/8"])}
    with collector(data, env=env) as served:
        responses = [
            send(
                served.base,
                "xff",
                {"X-Forwarded-For": f"6.6.6.6, {CLIENT_IP}", "X-Client-Port": "40001"},
            ),
            send(served.base, "fwd", {"Forwarded": f'for="[{CLIENT_V6}]:51515";proto=https'}),
        ]
        metrics = httpx.get(f"{served.base}/metrics").text
    assert [r.status_code for r in responses] == [200, 200]
    clients = {s.event.event_id: s.event.client for s in SegmentEventLog(data / "events").read()}
    assert clients["xff"] is not None and (clients["xff"].ip, clients["xff"].port) == (
        CLIENT_IP,
        40001,
    )
    assert clients["fwd"] is not None and (clients["fwd"].ip, clients["fwd"].port) == (
        CLIENT_V6,
        51515,
    )
    # The raw client addresses live only in the event log: not in responses, metrics, server
    # output, or what `netcx events tail` prints.
    tail = subprocess.run(
        [sys.executable, "-m", "netcx", "events", "tail", "--data", str(data)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "source=segment" in tail and "client=ipv4+port" in tail and "client=ipv6+port" in tail
    visible = tail + metrics + served.output.read_text() + "".join(r.text for r in responses)
    assert CLIENT_IP not in visible and CLIENT_V6 not in visible


def test_headers_from_an_untrusted_peer_are_ignored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"NETCX_HTTP__TRUSTED_PROXIES": json.dumps(["10.0.0.0/8"])}
    with collector(data, env=env) as served:
        r = send(
            served.base,
            "spoofed",
            {
                "X-Forwarded-For": CLIENT_IP,
                "Forwarded": f"for={CLIENT_IP}",
                "X-Client-Port": "40001",
            },
        )
    assert r.status_code == 200
    (stored,) = SegmentEventLog(data / "events").read()
    assert stored.event.client is not None
    assert stored.event.client.ip == "127.0.0.1"
    assert stored.event.client.port not in (None, 40001)
