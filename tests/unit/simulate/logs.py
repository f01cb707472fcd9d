"""Test-side readers of the simulated raw logs (independent of the generator's code)."""

from __future__ import annotations

import re
from calendar import timegm
from datetime import datetime
from pathlib import Path

import pyarrow as pa

SRX = re.compile(
    r"^<14>1 (?P<hdr>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<host>\S+) RT_NAT - "
    r"RT_SRC_NAT_PBA_(?P<ev>ALLOC|RELEASE) \[junos@2636\.1\.1\.1\.2\.40 "
    r'internal-ip="(?P<inside>[\d.]+)" block-used="\d+" block-max-per-host="8" '
    r'block-port-low="(?P<lo>\d+)" block-port-high="(?P<hi>\d+)" reflexive-ip="(?P<out>[\d.]+)" '
    r'nat-pool-name="cgn-pool" logical-system-id="0" epoch-time-64="(?P<hex>[0-9a-f]+)"\]$'
)
MSMPC = re.compile(
    r"^(?P<rcv>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) loghost "
    r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): (?P<host>[\w-]+)\{sset-cgn\}\[jservices-nat\]: "
    r"JSERVICES_NAT_PORT_BLOCK_(?P<ev>ALLOC|RELEASE): (?P<inside>[\d.]+) -> "
    r"(?P<out>[\d.]+):(?P<lo>\d+)-(?P<hi>\d+) 0x(?P<hex>[0-9a-f]+)$"
)
A10 = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.000\+00:00 (?P<host>\S+) "
    r"CEF:0\|A10\|CFW\|6\.0\.0-P1\|CGN (?P<sig>106|107)\|Nat Port Batch Pool "
    r"(?P<ev>Allocated|Freed)\|5\|proto=UDP src=(?P<inside>[\d.]+) "
    r"sourceTranslatedAddress=(?P<out>[\d.]+) sourceTranslatedPort=(?P<lo>\d+) "
    r"cn3=(?P<hi>\d+) cn3Label=Last Nat Port$"
)


def _epoch(text: str, fmt: str) -> int:
    return timegm(datetime.strptime(text, fmt).timetuple())


def parse_cgnat(path: Path, log_format: str) -> pa.Table:
    """(event alloc|release, ts_s, inside, outside, lo, hi) per line; raises on a bad line."""
    rows: dict[str, list[object]] = {
        k: [] for k in ("event", "ts_s", "inside", "outside", "lo", "hi")
    }
    pattern = {"juniper_srx": SRX, "juniper_msmpc": MSMPC, "a10_cef": A10}[log_format]
    for no, line in enumerate(path.read_text().splitlines(), 1):
        m = pattern.match(line)
        if m is None:
            raise AssertionError(f"{path}:{no}: not a {log_format} line: {line!r}")
        if log_format == "a10_cef":
            ts = _epoch(m["ts"], "%Y-%m-%dT%H:%M:%S")
            assert (m["sig"] == "106") == (m["ev"] == "Allocated")
        else:
            ts = int(m["hex"], 16)
        if log_format == "juniper_msmpc":
            assert ts == _epoch(m["ts"], "%Y-%m-%d %H:%M:%S")
        rows["event"].append("alloc" if m["ev"] in ("ALLOC", "Allocated") else "release")
        rows["ts_s"].append(ts)
        rows["inside"].append(m["inside"])
        rows["outside"].append(m["out"])
        rows["lo"].append(int(m["lo"]))
        rows["hi"].append(int(m["hi"]))
    return pa.table(rows)


def parse_detail(path: Path) -> list[dict[str, str]]:
    """FreeRADIUS detail records as attribute dicts (plus '_header')."""
    records: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in path.read_text().splitlines():
        if not line:
            if current is not None:
                records.append(current)
                current = None
        elif line.startswith("\t"):
            assert current is not None, line
            name, value = line[1:].split(" = ", 1)
            current[name] = value.strip('"')
        else:
            assert current is None, line
            current = {"_header": line}
    if current is not None:
        records.append(current)
    return records
