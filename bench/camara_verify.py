"""CAMARA /verify on a real `netcx serve` under wrk, against /healthz on the same server.

Ratio = verify req/s ÷ healthz req/s: what token verification (RS256 via JWKS), request-time
resolution, consent, audit and E.164 comparison cost per request relative to a bare route.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from bench._results import help_or_run, record
from tests.camara.authz import AUDIENCE, ISSUER, TestAuthorizationServer
from tests.servers import netcx_server

from netcx.domain.camara import SCOPE_VERIFY

DURATION_S = 5
CONNECTIONS = 16


def wrk(url: str, script: Path | None = None) -> float:
    """Requests per second that wrk reports (non-2xx answers are counted and refused)."""
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw error answers:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match is not None, out
    return float(match.group(1))


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not installed: run scripts/install-system-deps.sh")
    authz = TestAuthorizationServer()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        fixture = {
            "lines": [
                {"line_id": "ln1_b", "msisdn": "491700000042", "consent": ["number-verification"]}
            ],
            "bindings": [{"ip": "127.0.0.1", "line_id": "ln1_b"}],  # any source port
        }
        (tmp / "fixture.yaml").write_text(yaml.safe_dump(fixture))
        env = {
            "NETCX_CAMARA__ISSUER": ISSUER,
            "NETCX_CAMARA__AUDIENCE": AUDIENCE,
            "NETCX_CAMARA__JWKS_FILE": str(authz.write_jwks(tmp / "jwks.json")),
            "NETCX_CAMARA__FIXTURE_FILE": str(tmp / "fixture.yaml"),
        }
        script = tmp / "verify.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.body = \'{"phoneNumber": "+491700000042"}\'\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {authz.valid(SCOPE_VERIFY)}"\n'
        )
        with netcx_server(tmp / "data", env=env) as base:
            healthz = wrk(f"{base}/healthz")
            verify = wrk(f"{base}/number-verification/v2/verify", script)
    ratio = verify / healthz
    print(f"verify {verify:.0f} req/s, healthz {healthz:.0f} req/s, ratio {ratio:.3f}")
    record(
        {
            "camara.verify_rps": verify,
            "camara.healthz_rps": healthz,
            "camara.verify_vs_healthz_ratio": ratio,
        }
    )


if __name__ == "__main__":
    help_or_run(__doc__)
    main()
