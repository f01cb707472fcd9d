"""`netcx policy check FILE` as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netcx.services.decisions import load_policy_file

SHIPPED = Path(sys.modules["netcx"].__file__ or "").parent / "domain/decisions/default_policy.yaml"


def netcx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netcx", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def test_policy_check_accepts_the_shipped_policy_and_names_a_bad_entry(tmp_path: Path) -> None:
    ok = netcx("policy", "check", str(SHIPPED))
    assert ok.returncode == 0, ok.stderr
    policy = load_policy_file(SHIPPED)
    assert f"{len(policy.experiences)} experiences" in ok.stdout
    assert "universal control 5.0%" in ok.stdout
    index = [e.id for e in policy.experiences].index("roaming_option_for_tariff")

    bad = tmp_path / "policy.yaml"
    text = SHIPPED.read_text().replace("    intents: [roaming]\n", "    intents: [roam]\n", 1)
    bad.write_text(text)
    out = netcx("policy", "check", str(bad))
    assert out.returncode == 3
    line = text.splitlines().index("    intents: [roam]") + 1
    assert (
        f"policy.yaml:{line}: experiences[{index}] 'roaming_option_for_tariff': intents: "
        in " ".join(out.stderr.split())
    )
