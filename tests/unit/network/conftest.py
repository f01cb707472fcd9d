"""A small hand-built operator: address plan, deterministic NAT, CRM lines."""

from __future__ import annotations

import pytest

from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory, LineInfo
from netcx.domain.network.plan import AddressPlan
from netcx.domain.pseudonyms import Pseudonymizer

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
            "cidr": "203.0.113.0/25",
            "kind": "cgnat_outside",
            "nat_instance": "srx-cgn1",
            "inside_vrf": "mobile",
            "log_format": "juniper_srx",
        },
        {
            "cidr": "203.0.113.128/26",
            "kind": "cgnat_deterministic",
            "nat_instance": "det-cgn1",
            "inside_vrf": "mobile",
        },
        {"cidr": "198.18.0.0/15", "kind": "public_fixed"},
        {"cidr": "2001:db8:4000::/34", "kind": "ipv6_mobile"},
        {"cidr": "2001:db8:8000::/33", "kind": "ipv6_fixed_pd"},
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
LINES = [
    LineInfo(
        "L-mob-1", "mobile", "H-1", "A-1", "S-1", msisdn="447700900123", imsi="001010123456789"
    ),
    LineInfo(
        "L-mob-2", "mobile", "H-2", "A-2", "S-2", msisdn="447700900456", imsi="001010000000002"
    ),
    LineInfo("L-fix-1", "fixed", "H-1", "A-1", None, user_name="line-0042@isp.example"),
    LineInfo("L-fix-2", "fixed", "H-3", "A-3", None, user_name="line-0043@isp.example"),
]


@pytest.fixture
def plan() -> AddressPlan:
    return AddressPlan.from_json(PLAN)


@pytest.fixture
def nat() -> DeterministicNat:
    return DeterministicNat.from_json(DET_NAT)


@pytest.fixture
def directory() -> LineDirectory:
    return LineDirectory(LINES)


@pytest.fixture
def pseudonymizer() -> Pseudonymizer:
    return Pseudonymizer({"k1": b"test-key"}, "k1")
