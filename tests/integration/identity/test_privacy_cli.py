"""`netcx consent|subject|retention` on the embedded store, shared with a running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.tables import LINES
from tests.servers import netcx_server

pytestmark = pytest.mark.integration

KEY = "cli-test-key"
ENV = {"NETCX_PSEUDONYMS__KEYS": json.dumps({"k1": KEY})}
VISITOR = Pseudonymizer({"k1": KEY.encode()}, "k1").pseudonym(IdKind.VISITOR, "c1")


def netcx(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netcx", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        timeout=60,
        check=False,
    )


def test_consent_export_erase_purge_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = netcx(data, "consent", "set", "visitor:c1", "personalisation", "--text-version", "v2")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["subject"] == VISITOR
    bad = netcx(data, "consent", "set", "visitor:c1", "ads", "--text-version", "v2")
    assert bad.returncode == 2 and "unknown purpose 'ads'" in bad.stderr

    # the server and the CLI share the embedded store: a revocation typed while the
    # server runs is in force for its very next request
    with netcx_server(data, env=ENV) as base:
        view = httpx.get(f"{base}/v1/consent/visitor:c1", timeout=5).json()
        assert view["purposes"]["personalisation"]["text_version"] == "v2"
        revoked = netcx(data, "consent", "revoke", "visitor:c1", "personalisation")
        assert revoked.returncode == 0, revoked.stderr
        assert json.loads(revoked.stdout)["granted"] is False
        view = httpx.get(f"{base}/v1/consent/visitor:c1", timeout=5).json()
        assert view["purposes"]["personalisation"]["granted"] is False

    shown = json.loads(netcx(data, "consent", "show", "visitor:c1").stdout)
    assert shown["purposes"]["personalisation"]["granted"] is False

    out = tmp_path / "export.json"
    assert netcx(data, "subject", "export", "visitor:c1", "--out", str(out)).returncode == 0
    assert len(json.loads(out.read_text())["consent"]) == 2

    refused = netcx(data, "subject", "erase", "visitor:c1")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    erased = json.loads(netcx(data, "subject", "erase", "visitor:c1", "--yes").stdout)
    assert erased["erased"]["consent"] == 2
    after = json.loads(netcx(data, "subject", "export", "visitor:c1").stdout)
    assert after["consent"] == [] and after["audit"] == []

    lines = tmp_path / "lines.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "line_id": "L1",
                    "kind": "mobile",
                    "subscriber_id": "S1",
                    "household_id": "H1",
                    "account_id": "A1",
                }
            ],
            schema=LINES,
        ),
        lines,
    )
    loaded = netcx(data, "identity", "load-crm", str(lines))
    assert loaded.returncode == 0 and "wrote 5 CRM edges" in loaded.stdout, loaded.stderr
    missing = netcx(data, "identity", "load-crm", str(tmp_path / "nope.parquet"))
    assert missing.returncode == 4 and "no such file" in " ".join(missing.stderr.split())

    purged = json.loads(netcx(data, "retention", "purge").stdout)
    assert set(purged) == {
        "network_edges",
        "login_edges",
        "crm_edges",
        "consent",
        "audit",
        "events",
    }
