"""Vendor syslog lines of port-block events → BlockEvents; the format is detected per line.

Shapes: network-logs.md §2.5 (Juniper SRX RT_NAT, Juniper MS-MPC jservices-nat, A10 CEF,
Cisco IOS XR CGN). Times without a zone are taken as UTC (`zone` of the device inventory
is UTC in our plan); times with an offset are converted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from netcx.domain.network.records import ALLOC, INTERIM, RELEASE, BlockEvent
from netcx.errors import ParseError

JUNIPER_SRX = "juniper_srx"
JUNIPER_MSMPC = "juniper_msmpc"
A10_CEF = "a10_cef"
CISCO_XR = "cisco_xr"

_SRX = re.compile(
    r"^<\d+>1 (?P<ts>\S+) (?P<host>\S+) RT_NAT - "
    r"RT_SRC_NAT_PBA_(?P<ev>ALLOC|RELEASE|INTERIM) \[(?P<sd>[^\]]*)\]"
)
_SD_PAIR = re.compile(r'([\w-]+)="([^"]*)"')
_MSMPC = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): "
    r"(?P<host>[^{\s]+)\{(?P<sset>[^}]*)\}\[jservices-nat\]: "
    r"JSERVICES_NAT_PORT_BLOCK_(?P<ev>ALLOC|RELEASE|ACTIVE): (?P<inside>[\d.]+) -> "
    r"(?P<outside>[\d.]+):(?P<lo>\d+)-(?P<hi>\d+)"
)
_A10 = re.compile(
    r"^(?P<ts>\S+) (?P<host>\S+) CEF:\d+\|A10\|[^|]*\|[^|]*\|"
    r"CGN (?P<sig>\d+)\|[^|]*\|[^|]*\|(?P<ext>.*)$"
)
_CEF_PAIR = re.compile(r"(\w+)=(.*?)(?=\s\w+=|$)")
_XR_HEAD = re.compile(
    r"^<\d+>1 (?P<ts>\d{4} \w{3} +\d+ \d\d:\d\d:\d\d) (?P<host>\S+) - - NAT44 - "
    r"(?P<recs>(?:\[[^\]]*\])+)"
)
_XR_REC = re.compile(r"\[([^\]]*)\]")

_SRX_EV = {"ALLOC": ALLOC, "RELEASE": RELEASE, "INTERIM": INTERIM}
_MSMPC_EV = {"ALLOC": ALLOC, "RELEASE": RELEASE, "ACTIVE": INTERIM}


def _iso_ms(ts: str) -> int:
    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _srx(line: str, ref: str) -> list[BlockEvent] | None:
    m = _SRX.match(line)
    if m is None:
        return None
    sd = dict(_SD_PAIR.findall(m["sd"]))
    epoch = sd.get("epoch-time-64")
    at_ms = int(epoch, 16) * 1000 if epoch else _iso_ms(m["ts"])
    return [
        BlockEvent(
            event=_SRX_EV[m["ev"]],
            at_ms=at_ms,
            nat_instance=m["host"],
            inside_ip=sd["internal-ip"],
            outside_ip=sd["reflexive-ip"],
            port_lo=int(sd["block-port-low"]),
            port_hi=int(sd["block-port-high"]),
            raw_ref=ref,
        )
    ]


def _msmpc(line: str, ref: str) -> list[BlockEvent] | None:
    m = _MSMPC.search(line)
    if m is None:
        return None
    at = datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return [
        BlockEvent(
            event=_MSMPC_EV[m["ev"]],
            at_ms=int(at.timestamp() * 1000),
            nat_instance=f"{m['host']}/{m['sset']}",
            inside_ip=m["inside"],
            outside_ip=m["outside"],
            port_lo=int(m["lo"]),
            port_hi=int(m["hi"]),
            raw_ref=ref,
        )
    ]


def _a10(line: str, ref: str) -> list[BlockEvent] | None:
    m = _A10.match(line)
    if m is None:
        return None
    if m["sig"] not in ("106", "107"):  # per-port / session events: not port blocks
        return []
    ext = {k: v.strip() for k, v in _CEF_PAIR.findall(m["ext"])}
    host, _, vrf = m["host"].partition("/")
    return [
        BlockEvent(
            event=ALLOC if m["sig"] == "106" else RELEASE,
            at_ms=_iso_ms(m["ts"]),
            nat_instance=host,
            inside_vrf=vrf,
            inside_ip=ext["src"],
            outside_ip=ext["sourceTranslatedAddress"],
            port_lo=int(ext["sourceTranslatedPort"]),
            port_hi=int(ext["cn3"]),
            raw_ref=ref,
        )
    ]


def _cisco_xr(line: str, ref: str) -> list[BlockEvent] | None:
    m = _XR_HEAD.match(line)
    if m is None:
        return None
    at = datetime.strptime(" ".join(m["ts"].split()), "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    out = []
    for rec in _XR_REC.findall(m["recs"]):
        f = rec.split()
        # EventName L4 OrigSrcIP InsideVRF OrigSrcIPv6 TranslatedSrcIP OrigPort First Last
        # DstIP DstPort
        if len(f) != 11 or f[0] not in ("UserbasedA", "UserbasedW"):
            continue
        out.append(
            BlockEvent(
                event=ALLOC if f[0] == "UserbasedA" else RELEASE,
                at_ms=int(at.timestamp() * 1000),
                nat_instance=m["host"],
                inside_vrf=f[3],
                inside_ip=f[2],
                outside_ip=f[5],
                port_lo=int(f[7]),
                port_hi=int(f[8]),
                raw_ref=ref,
            )
        )
    return out


Parser = Callable[[str, str], list[BlockEvent] | None]
PARSERS: dict[str, Parser] = {
    JUNIPER_SRX: _srx,
    JUNIPER_MSMPC: _msmpc,
    A10_CEF: _a10,
    CISCO_XR: _cisco_xr,
}
_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("RT_SRC_NAT_PBA_", JUNIPER_SRX),
    ("JSERVICES_NAT_PORT_BLOCK_", JUNIPER_MSMPC),
    ("|A10|", A10_CEF),
    (" NAT44 - [", CISCO_XR),
)
# Lines that are valid syslog but not port-block events (e.g. per-session logs): skipped quietly.
_IGNORABLE = ("RT_FLOW_SESSION",)


def detect_format(line: str) -> str | None:
    for needle, name in _SIGNATURES:
        if needle in line:
            return name
    return None


def parse_line(line: str, ref: str) -> list[BlockEvent]:
    """Events of one line (Cisco XR packs several); ValueError if no format matches."""
    fmt = detect_format(line)
    if fmt is None:
        if any(tag in line for tag in _IGNORABLE):
            return []
        raise ValueError("no known port-block log format")
    try:
        events = PARSERS[fmt](line, ref)
    except (KeyError, ValueError) as err:
        raise ValueError(f"{fmt}: bad field {err}") from err
    if events is None:
        raise ValueError(f"looks like {fmt} but does not match its line shape")
    return events


def parse_syslog(lines: Iterable[str], source: str) -> Iterator[BlockEvent | ParseError]:
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            yield from parse_line(line, f"{source}:{no}")
        except ValueError as err:
            # no excerpt: log lines carry subscriber addresses
            yield ParseError(str(err), source=source, line_no=no)
