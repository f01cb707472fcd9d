"""A hand-built world folder with one known case per log source (vendor syslog, IPFIX, RFC 7422)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from netcx import tables
from netcx.adapters.cgnat.ipfix import PBA_TEMPLATE, encode_message
from netcx.tables import LINES

T0 = 1718000000  # 2024-06-10T06:13:20Z (seconds)
SECRET = "s3cr3t"

PLAN = {
    "operator": {"name": "Example Telco", "mcc": "001", "mnc": "01"},
    "nas": [
        {
            "nas_ip": "192.0.2.10",
            "nas_identifier": "bng-01",
            "access": "fixed",
            "vrf": "fixed",
            "interim_interval_s": 900,
        },
        {
            "nas_ip": "192.0.2.20",
            "nas_identifier": "pgw-01",
            "access": "mobile",
            "vrf": "mobile",
            "interim_interval_s": 900,
        },
    ],
    "pools": [
        {
            "cidr": "203.0.113.0/27",
            "kind": "cgnat_outside",
            "nat_instance": "srx-cgn1",
            "inside_vrf": "mobile",
            "log_format": "juniper_srx",
        },
        {
            "cidr": "203.0.113.32/27",
            "kind": "cgnat_outside",
            "nat_instance": "mx-cgn1",
            "inside_vrf": "mobile",
            "log_format": "juniper_msmpc",
        },
        {
            "cidr": "203.0.113.64/27",
            "kind": "cgnat_outside",
            "nat_instance": "cgn0",
            "inside_vrf": "mobile",
            "log_format": "a10_cef",
        },
        {
            "cidr": "203.0.113.96/28",
            "kind": "cgnat_outside",
            "nat_instance": "xr-cgn1",
            "inside_vrf": "mobile",
            "log_format": "cisco_xr",
        },
        {
            "cidr": "203.0.113.112/28",
            "kind": "cgnat_outside",
            "nat_instance": "ipfix-7",
            "inside_vrf": "mobile",
            "log_format": "ipfix",
        },
        {
            "cidr": "203.0.113.128/26",
            "kind": "cgnat_deterministic",
            "nat_instance": "det-cgn1",
            "inside_vrf": "mobile",
        },
        {"cidr": "198.18.0.0/15", "kind": "public_fixed"},
        {"cidr": "192.0.2.0/26", "kind": "infrastructure"},
    ],
}
DET_NAT = [
    {
        "nat_instance": "det-cgn1",
        "inside_vrf": "mobile",
        "inside_prefixes": ["100.65.0.0/22"],
        "outside_pool": ["203.0.113.128/27"],
        "first_port": 1024,
        "ports_per_subscriber": 2016,
        "algorithm": "rfc7422-sequential",
        "valid_from_ms": 0,
        "valid_to_ms": None,
    },
]
# line id → (msisdn, inside address it gets, household)
MOBILE = {
    "L-srx": ("447700900001", "100.64.0.1"),
    "L-msmpc": ("447700900002", "100.64.0.2"),
    "L-a10": ("447700900003", "100.64.0.3"),
    "L-xr": ("447700900004", "100.64.0.4"),
    "L-ipfix": ("447700900005", "100.64.0.5"),
    "L-det": ("447700900006", "100.65.1.77"),
    "L-radclient": ("447700900123", "100.64.12.34"),
}
# hit address per case: (outside ip, port)
CASES = {
    "L-srx": ("203.0.113.10", 27300),
    "L-msmpc": ("203.0.113.40", 2100),
    "L-a10": ("203.0.113.70", 22100),
    "L-xr": ("203.0.113.100", 2500),
    "L-ipfix": ("203.0.113.120", 5000),
    "L-det": ("203.0.113.138", 28000),  # RFC 7422 §2.3 worked example, shifted pool
    "L-radclient": ("203.0.113.11", 1030),
}


def _ts(sec: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))


def write_world(root: Path) -> Path:
    (root / "network" / "radius").mkdir(parents=True)
    (root / "network" / "cgnat").mkdir()
    (root / "crm").mkdir()
    (root / "network" / "address_plan.json").write_text(json.dumps(PLAN))
    (root / "network" / "deterministic_nat.json").write_text(json.dumps(DET_NAT))
    rows = []
    for i, (line_id, (msisdn, _)) in enumerate(MOBILE.items()):
        rows.append({"line_id": line_id, "kind": "mobile", "subscriber_id": f"S-{i}",
                     "household_id": f"H-{i}", "account_id": f"A-{i}", "msisdn": msisdn,
                     "imsi": f"00101000000000{i}"})  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows, schema=LINES), root / "crm" / "lines.parquet")
    # The rest of a world folder the live service reads (CRM facts for decisions): empty.
    (root / "meta.json").write_text(json.dumps({"households": len(rows), "days": 1}))
    (root / "outcomes").mkdir()
    empty = {
        "crm/accounts": tables.ACCOUNTS,
        "outcomes/outages": tables.OUTAGES,
        "outcomes/churn": tables.CHURN,
        "outcomes/upgrades": tables.UPGRADES,
    }
    for name, schema in empty.items():
        pq.write_table(schema.empty_table(), root / f"{name}.parquet")
    detail = []
    for line_id, (msisdn, inside) in MOBILE.items():
        if line_id == "L-radclient":
            continue  # arrives through the listener
        detail.append(
            f"Mon Jun 10 06:13:20 2024\n\tAcct-Status-Type = Start\n"
            f'\tAcct-Session-Id = "{line_id}"\n\tNAS-IP-Address = 192.0.2.20\n'
            f'\tCalling-Station-Id = "{msisdn}"\n\tFramed-IP-Address = {inside}\n'
            f"\tEvent-Timestamp = {T0}\n"
        )
    (root / "network" / "radius" / "detail-20240610.log").write_text("\n".join(detail))
    cg = root / "network" / "cgnat"
    (cg / "srx-cgn1.log").write_text(
        f'<14>1 {_ts(T0)}.000Z srx-cgn1 RT_NAT - RT_SRC_NAT_PBA_ALLOC [junos@2636.1.1.1.2.40 internal-ip="100.64.0.1" block-used="1" block-max-per-host="8" block-port-low="27232" block-port-high="27359" reflexive-ip="203.0.113.10" nat-pool-name="cgn-pool" logical-system-id="0" epoch-time-64="{T0:x}"]\n'  # noqa: E501
        f'<14>1 {_ts(T0)}.000Z srx-cgn1 RT_NAT - RT_SRC_NAT_PBA_ALLOC [junos@2636.1.1.1.2.40 internal-ip="100.64.12.34" block-used="1" block-max-per-host="8" block-port-low="1024" block-port-high="1151" reflexive-ip="203.0.113.11" nat-pool-name="cgn-pool" logical-system-id="0" epoch-time-64="{T0:x}"]\n'  # noqa: E501
        "this line is broken\n"
    )
    (cg / "mx-cgn1.log").write_text(
        f"Jun 10 06:13:21 loghost {_ts(T0).replace('T', ' ')}: mx-cgn1{{sset-cgn}}[jservices-nat]: JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.0.2 -> 203.0.113.40:2048-2175 0x66669980\n"  # noqa: E501
    )
    (cg / "cgn0.log").write_text(
        f"{_ts(T0)}.000+00:00 cgn0/cgn-inside CEF:0|A10|CFW|6.0.0-P1|CGN 106|Nat Port Batch Pool Allocated|5|proto=UDP src=100.64.0.3 sourceTranslatedAddress=203.0.113.70 sourceTranslatedPort=22016 cn3=22271 cn3Label=Last Nat Port\n"  # noqa: E501
    )
    (cg / "xr-cgn1.log").write_text(
        "<134>1 2024 Jun 10 06:13:20 192.0.2.30 - - NAT44 - [UserbasedA - 100.64.0.4 cgn-inside - 203.0.113.100 - 2048 3071 - -]\n"  # noqa: E501
    )
    (cg / "ipfix-7.ipfix").write_bytes(
        encode_message(
            7,
            T0,
            {256: PBA_TEMPLATE},
            {256: [[T0 * 1000, 16, "100.64.0.5", "203.0.113.120", 4096, 5119, 1]]},
        )
    )
    return root
