from __future__ import annotations

from netcx.adapters.cgnat.syslog import detect_format, parse_syslog
from netcx.adapters.radius.attributes import user_location
from netcx.adapters.radius.detail import parse_detail
from netcx.domain.network.records import AccountingRecord, BlockEvent
from netcx.errors import ParseError

DETAIL = """\
Mon Jun 10 06:13:20 2024
\tAcct-Status-Type = Start
\tAcct-Session-Id = "0A0B0C0D-00001234"
\tUser-Name = "line-0042@isp.example"
\tNAS-IP-Address = 192.0.2.10
\tNAS-Identifier = "bng-01"
\tADSL-Agent-Circuit-Id = 0x6f6c74312d312f312f3031   # "olt1-1/1/01"
\tFramed-IP-Address = 100.64.12.34
\tFramed-IPv6-Prefix = 2001:db8:1200:3400::/64
\tDelegated-IPv6-Prefix = 2001:db8:ab00:1200::/56
\tEvent-Timestamp = 1718000000          # 2024-06-10T06:13:20Z
\tAcct-Delay-Time = 0

Mon Jun 10 06:28:23 2024
\tAcct-Status-Type = Interim-Update
\tAcct-Session-Id = "0A0B0C0D-00001234"
\tNAS-IP-Address = 192.0.2.10
\tFramed-IP-Address = 100.64.12.34
\tAcct-Session-Time = 900
\tAcct-Delay-Time = 3

Mon Jun 10 06:30:00 2024
\tAcct-Status-Type = Bogus
\tNAS-IP-Address = 192.0.2.10

Mon Jun 10 06:31:00 2024
\tthis line is not an attribute

Mon Jun 10 06:40:00 2024
\tAcct-Status-Type = Start
\tAcct-Session-Id = "C0A8000A-7F3E21"
\tNAS-IP-Address = 192.0.2.20
\tCalled-Station-Id = "internet.example"
\tCalling-Station-Id = "447700900123"
\tFramed-IP-Address = 100.64.200.7
\t3GPP-IMSI = "001010123456789"
\t3GPP-IMEISV = "3534900612345601"
\t3GPP-RAT-Type = EUTRAN
\t3GPP-User-Location-Info = 0x8200f110000100f11000001a2d
\tEvent-Timestamp = "Jun 10 2024 06:40:00 UTC"

\tAcct-Status-Type = Accounting-On
\tNAS-IP-Address = 192.0.2.10
\tEvent-Timestamp = 1718001600
"""


def test_detail_file_records_and_errors_with_line_numbers() -> None:
    out = list(parse_detail(DETAIL.splitlines(keepends=True), "detail-20240610.log"))
    records = [r for r in out if isinstance(r, AccountingRecord)]
    errors = [e for e in out if isinstance(e, ParseError)]
    assert [r.status for r in records] == ["Start", "Interim-Update", "Start", "Accounting-On"]
    start, interim, mobile, acct_on = records
    assert start.event_ms == 1718000000_000
    assert start.user_name == "line-0042@isp.example"
    assert start.delegated_ipv6_prefix == "2001:db8:ab00:1200::/56"
    assert start.raw_ref == "detail-20240610.log:1"
    # No Event-Timestamp: arrival (06:28:23) − Acct-Delay-Time (3 s) = 06:28:20.
    assert interim.event_ms == 1718000900_000
    assert interim.session_time_s == 900
    assert mobile.imsi == "001010123456789" and mobile.rat_type == "EUTRAN"
    assert mobile.location == "TAI:001-01:1/ECGI:001-01:6701"
    assert mobile.event_ms == 1718001600_000
    assert acct_on.nas_ip == "192.0.2.10"
    assert [(e.source, e.line_no) for e in errors] == [
        ("detail-20240610.log", 22),  # record start (header line)
        ("detail-20240610.log", 27),  # the line that is not an attribute
    ]
    assert "Acct-Status-Type" in str(errors[0])


def test_user_location_types() -> None:
    assert user_location(bytes.fromhex("8000f1100001")) == "TAI:001-01:1"
    assert user_location(bytes.fromhex("8100f11000001a2d")) == "ECGI:001-01:6701"


SYSLOG = [
    '<14>1 2024-06-10T06:13:20.512Z srx-cgn1 RT_NAT - RT_SRC_NAT_PBA_ALLOC [junos@2636.1.1.1.2.40 internal-ip="100.64.12.34" block-used="1" block-max-per-host="8" block-port-low="27232" block-port-high="27359" reflexive-ip="203.0.113.10" nat-pool-name="cgn-pool" logical-system-id="0" epoch-time-64="66669980"]',  # noqa: E501
    "Jun 10 07:43:05 loghost 2024-06-10 07:43:04: mx-cgn1{sset-cgn}[jservices-nat]: JSERVICES_NAT_PORT_BLOCK_RELEASE: 100.64.12.34 -> 203.0.113.10:27232-27359 0x6666ae88",  # noqa: E501
    "2024-06-10T06:13:20.000+00:00 cgn0/cgn-inside CEF:0|A10|CFW|6.0.0-P1|CGN 106|Nat Port Batch Pool Allocated|5|proto=UDP src=100.64.12.34 sourceTranslatedAddress=203.0.113.10 sourceTranslatedPort=22016 cn3=22271 cn3Label=Last Nat Port",  # noqa: E501
    "<134>1 2024 Jun 10 06:13:20 192.0.2.30 - - NAT44 - [UserbasedA - 100.64.12.34 cgn-inside - 203.0.113.10 - 2048 3071 - -][UserbasedA - 100.64.12.35 cgn-inside - 203.0.113.10 - 3072 4095 - -]",  # noqa: E501
    "garbage that is no log line",
    '<14>1 2024-06-10T06:13:20.512Z srx-cgn1 RT_NAT - RT_SRC_NAT_PBA_ALLOC [junos@2636 internal-ip="100.64.12.34"]',  # noqa: E501
]


def test_vendor_lines_detected_per_line_and_bad_lines_reported() -> None:
    assert [detect_format(x) for x in SYSLOG[:4]] == [
        "juniper_srx",
        "juniper_msmpc",
        "a10_cef",
        "cisco_xr",
    ]
    out = list(parse_syslog(SYSLOG, "mixed.log"))
    events = [e for e in out if isinstance(e, BlockEvent)]
    errors = [e for e in out if isinstance(e, ParseError)]
    srx, msmpc, a10, xr1, xr2 = events
    assert (srx.event, srx.at_ms, srx.nat_instance) == ("alloc", 1718000000_000, "srx-cgn1")
    assert (srx.inside_ip, srx.outside_ip, srx.port_lo, srx.port_hi) == (
        "100.64.12.34",
        "203.0.113.10",
        27232,
        27359,
    )
    assert (msmpc.event, msmpc.at_ms, msmpc.nat_instance) == (
        "release",
        1718005384_000,
        "mx-cgn1/sset-cgn",
    )
    assert (a10.event, a10.port_lo, a10.port_hi, a10.inside_vrf) == (
        "alloc",
        22016,
        22271,
        "cgn-inside",
    )
    assert (xr1.inside_ip, xr1.port_lo, xr2.inside_ip, xr2.port_lo) == (
        "100.64.12.34",
        2048,
        "100.64.12.35",
        3072,
    )
    assert [(e.source, e.line_no) for e in errors] == [("mixed.log", 5), ("mixed.log", 6)]
