"""Real processes: radclient → RADIUS listener in `netcx serve` → GET /v1/resolve; CLI paths."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from netcx.bootstrap import build_pseudonymizer
from netcx.config import load_settings
from netcx.domain.pseudonyms import IdKind
from tests.servers import free_port, netcx_server, wait_until

from .world import CASES, MOBILE, SECRET, T0, _ts, write_world

pytestmark = [pytest.mark.integration, pytest.mark.radclient]
KEY = "test-api-key"


def netcx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netcx", *args], capture_output=True, text=True, timeout=120
    )


def radclient(port: int, secret: str, attrs: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["radclient", "-r", "2", "-t", "1", f"127.0.0.1:{port}", "acct", secret],
        input=attrs, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


START = f"""Acct-Status-Type = Start
Acct-Session-Id = "RC-1"
Calling-Station-Id = "{MOBILE["L-radclient"][0]}"
Called-Station-Id = "internet.example"
NAS-IP-Address = 192.0.2.20
Framed-IP-Address = {MOBILE["L-radclient"][1]}
Event-Timestamp = {T0}
Acct-Delay-Time = 0
3GPP-IMSI = "001010123456789"
3GPP-IMEISV = "3534900612345601"
3GPP-RAT-Type = EUTRAN
3GPP-User-Location-Info = 0x8200f110000100f11000001a2d
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("net")
    world = write_world(root / "world")
    data = root / "data"
    out = netcx("ingest", "world", str(world), "--data", str(data))
    assert out.returncode == 0, out.stderr
    assert "skipped srx-cgn1.log:3" in out.stderr  # the broken line: reported, not fatal
    return data


def expected_line(line_id: str) -> str:
    return build_pseudonymizer(load_settings()).pseudonym(IdKind.LINE, line_id)


def grant(base: str, line_id: str, purpose: str) -> None:
    """The line's holder grants `purpose` (the consent gate of /v1/resolve requires it)."""
    body = {"granted": True, "source": "crm", "text_version": "v1"}
    r = httpx.put(
        f"{base}/v1/consent/line:{line_id}/{purpose}",
        json=body,
        headers={"Authorization": f"Bearer {KEY}", "X-Netcx-Caller": "crm"},
    )
    assert r.status_code == 200, r.text


def test_radclient_to_listener_to_http_resolve(data_dir: Path) -> None:
    udp = free_port(socket.SOCK_DGRAM)
    env = {
        "NETCX_RADIUS__PORT": str(udp),
        "NETCX_RADIUS__SECRET": SECRET,
        "NETCX_HTTP__API_KEYS": json.dumps([KEY]),
    }
    with netcx_server(data_dir, env=env) as base:
        auth = {"Authorization": f"Bearer {KEY}"}
        ip, port = CASES["L-radclient"]
        at = _ts(T0 + 60) + "Z"
        params = {"ip": ip, "port": port, "at": at, "purpose": "personalisation"}
        before = httpx.get(f"{base}/v1/resolve", params=params, headers=auth).json()
        assert (before["level"], before["reason"]) == ("unknown", "no_lease")

        sent = radclient(udp, SECRET, START)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "Accounting-Response" in sent.stdout

        # the line is known now, but its holder has not consented to personalisation
        gated = httpx.get(f"{base}/v1/resolve", params=params, headers=auth).json()
        assert (gated["level"], gated["reason"]) == ("unknown", "no_consent")
        assert "line_id" not in gated
        grant(base, "L-radclient", "personalisation")

        r = httpx.get(f"{base}/v1/resolve", params=params, headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["level"], body["reason"]) == ("line", "cgnat_block+radius")
        assert body["line_id"] == expected_line("L-radclient")
        assert [e["kind"] for e in body["evidence"]] == ["port_block", "radius_session"]

        # wrong secret: no answer, radclient fails, the drop counter moves
        bad = radclient(udp, "wrong-secret", START.replace("RC-1", "RC-2"))
        assert bad.returncode != 0
        assert "Accounting-Response" not in bad.stdout

        def dropped() -> bool:
            s = httpx.get(f"{base}/v1/radius/stats", headers=auth).json()
            return s.get("dropped_bad_authenticator", 0) >= 1

        wait_until(dropped, timeout_s=5, what="drop counter")
        stats = httpx.get(f"{base}/v1/radius/stats", headers=auth).json()
        assert stats["stored"] == 1

        # every known case resolves over HTTP: 4 vendor syslogs, IPFIX, deterministic NAT
        for line_id, (ip, port) in CASES.items():
            grant(base, line_id, "analytics")
            q = {"ip": ip, "port": port, "at": at, "purpose": "analytics"}
            got = httpx.get(f"{base}/v1/resolve", params=q, headers=auth).json()
            assert got["line_id"] == expected_line(line_id), (line_id, got)
        # no key → 401; bad input → 400 naming the field
        assert httpx.get(f"{base}/v1/resolve", params=params).status_code == 401
        bad_ip = httpx.get(f"{base}/v1/resolve", params={**params, "ip": "nope"}, headers=auth)
        assert bad_ip.status_code == 400 and "ip" in bad_ip.json()["error"]
    audit = list((data_dir / "audit" / "resolve").glob("*.jsonl"))
    assert audit and "personalisation" in audit[0].read_text()
    assert MOBILE["L-radclient"][0] not in audit[0].read_text()


def test_cli_resolve_prints_json(data_dir: Path) -> None:
    ip, port = CASES["L-det"]
    out = netcx("resolve", "--data", str(data_dir), "--ip", ip, "--port", str(port),
                "--at", _ts(T0 + 60))  # fmt: skip
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert (body["level"], body["reason"]) == ("line", "nat_rule+radius")
    assert body["line_id"] == expected_line("L-det")
    no_port = json.loads(netcx("resolve", "--data", str(data_dir), "--ip", ip).stdout)
    assert no_port["reason"] == "no_port"
    bad = netcx("resolve", "--data", str(data_dir), "--ip", "300.1.1.1")
    assert bad.returncode == 2 and "ip" in bad.stderr


def test_standalone_radius_command_acknowledges_after_storing(tmp_path: Path) -> None:
    udp = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(
        [sys.executable, "-m", "netcx", "radius", "--port", str(udp), "--secret", SECRET,
         "--data", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert "listener on" in proc.stdout.readline()
        sent = radclient(udp, SECRET, START)
        assert sent.returncode == 0, sent.stderr
        stored = list((tmp_path / "network" / "accounting").glob("*.jsonl"))
        assert stored and '"RC-1"' in stored[0].read_text()  # durable before the answer
        rec = json.loads(stored[0].read_text().splitlines()[0])  # 3GPP VSAs decoded
        assert (rec["imsi"], rec["imeisv"], rec["rat_type"]) == (
            "001010123456789",
            "3534900612345601",
            "EUTRAN",
        )
        assert rec["location"] == "TAI:001-01:1/ECGI:001-01:6701"
        again = radclient(udp, SECRET, START)  # a re-sent event: acknowledged, stored once
        assert again.returncode == 0
        assert stored[0].read_text().count('"RC-1"') == 1
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_with_world_preloads_network_logs(tmp_path: Path) -> None:
    world = write_world(tmp_path / "world")
    env = {"NETCX_HTTP__API_KEYS": json.dumps([KEY]), "NETCX_RADIUS__ENABLED": "false"}
    with netcx_server(tmp_path / "data", env=env, args=("--world", str(world))) as base:
        ip, port = CASES["L-a10"]
        grant(base, "L-a10", "analytics")
        q = {"ip": ip, "port": port, "at": _ts(T0 + 60) + "Z", "purpose": "analytics"}
        got = httpx.get(f"{base}/v1/resolve", params=q, headers={"X-API-Key": KEY}).json()
    assert got["line_id"] == expected_line("L-a10")
