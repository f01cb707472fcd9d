"""IPFIX (RFC 7011) NAT event records (RFC 8158) → BlockEvents, driven by received templates.

Port-block allocate/de-allocate (natEvent 16/17) become blocks; NAT44 session
create/delete (natEvent 4/5) become one-port blocks on the translated port. Exporters
with the older draft numbering (Juniper MX: 14/15 for port blocks) are decoded with
`JUNIPER_DRAFT_EVENTS`. A malformed message is reported (file, message number) and skipped.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from netcx.domain.network.records import ALLOC, RELEASE, BlockEvent
from netcx.errors import ParseError

# Information Elements (IANA ids) we read.
SOURCE_IPV4 = 8
SOURCE_PORT = 7
POST_NAT_SOURCE_IPV4 = 225
POST_NAPT_SOURCE_PORT = 227
NAT_EVENT = 230
INGRESS_VRF = 234
OBSERVATION_TIME_MS = 323
PORT_RANGE_START = 361
PORT_RANGE_END = 362
PORT_RANGE_STEP = 363
NAT_INSTANCE_ID = 463

RFC8158_EVENTS: Mapping[int, tuple[str, bool]] = {
    16: (ALLOC, True),  # port block allocation
    17: (RELEASE, True),  # port block de-allocation
    4: (ALLOC, False),  # NAT44 session create
    5: (RELEASE, False),  # NAT44 session delete
}
JUNIPER_DRAFT_EVENTS: Mapping[int, tuple[str, bool]] = {
    14: (ALLOC, True),
    15: (RELEASE, True),
    1: (ALLOC, False),
    2: (RELEASE, False),
}

Template = list[tuple[int, int]]  # (IE id, length); enterprise IEs get id -1


class IpfixError(ValueError):
    pass


class IpfixDecoder:
    """Stateful: templates persist across messages per observation domain."""

    def __init__(self, events: Mapping[int, tuple[str, bool]] = RFC8158_EVENTS) -> None:
        self.events = events
        self.templates: dict[tuple[int, int], Template] = {}

    def decode(self, msg: bytes, ref: str) -> list[BlockEvent]:
        if len(msg) < 16:
            raise IpfixError("short message header")
        version, length, export_s, _seq, domain = struct.unpack_from("!HHIII", msg)
        if version != 10:
            raise IpfixError(f"version {version}, expected 10")
        if length != len(msg):
            raise IpfixError(f"length field {length} != {len(msg)} bytes")
        out: list[BlockEvent] = []
        pos = 16
        while pos < length:
            if pos + 4 > length:
                raise IpfixError("truncated set header")
            set_id, set_len = struct.unpack_from("!HH", msg, pos)
            if set_len < 4 or pos + set_len > length:
                raise IpfixError(f"bad set length {set_len}")
            body = msg[pos + 4 : pos + set_len]
            if set_id == 2:
                self._templates(body, domain, options=False)
            elif set_id == 3:
                self._templates(body, domain, options=True)
            elif set_id >= 256:
                tpl = self.templates.get((domain, set_id))
                if tpl is not None:  # data before its template: cannot decode, skip (RFC 7011)
                    out.extend(self._data(body, tpl, domain, export_s, ref))
            pos += set_len
        return out

    def _templates(self, body: bytes, domain: int, *, options: bool) -> None:
        pos = 0
        while pos + 4 <= len(body):
            tid, count = struct.unpack_from("!HH", body, pos)
            pos += 4
            if options:
                pos += 2  # scope field count
            fields: Template = []
            for _ in range(count):
                ie, flen = struct.unpack_from("!HH", body, pos)
                pos += 4
                if ie & 0x8000:
                    pos += 4  # enterprise number
                    ie = -1
                fields.append((ie, flen))
            if not options:
                self.templates[(domain, tid)] = fields

    def _data(
        self, body: bytes, tpl: Template, domain: int, export_s: int, ref: str
    ) -> Iterator[BlockEvent]:
        pos = 0
        min_len = sum(1 if n == 0xFFFF else n for _, n in tpl)
        while pos + min_len <= len(body) and min_len > 0:
            rec: dict[int, bytes] = {}
            for ie, flen in tpl:
                if flen == 0xFFFF:
                    flen = body[pos]
                    pos += 1
                    if flen == 255:
                        flen = int.from_bytes(body[pos : pos + 2], "big")
                        pos += 2
                rec[ie] = body[pos : pos + flen]
                pos += flen
            ev = self._event(rec, domain, export_s, ref)
            if ev is not None:
                yield ev

    def _event(
        self, rec: dict[int, bytes], domain: int, export_s: int, ref: str
    ) -> BlockEvent | None:
        code = int.from_bytes(rec.get(NAT_EVENT, b""), "big") if NAT_EVENT in rec else None
        if code is None or code not in self.events:
            return None
        kind, is_block = self.events[code]
        if SOURCE_IPV4 not in rec or POST_NAT_SOURCE_IPV4 not in rec:
            raise IpfixError(f"natEvent {code} without inside/outside IPv4 address")
        at_ms = (
            int.from_bytes(rec[OBSERVATION_TIME_MS], "big")
            if OBSERVATION_TIME_MS in rec
            else export_s * 1000
        )
        if is_block:
            lo = int.from_bytes(rec[PORT_RANGE_START], "big")
            hi = int.from_bytes(rec[PORT_RANGE_END], "big")
            step = int.from_bytes(rec.get(PORT_RANGE_STEP, b"\x00\x01"), "big") or 1
        else:
            lo = hi = int.from_bytes(rec[POST_NAPT_SOURCE_PORT], "big")
            step = 1
        instance = (
            str(int.from_bytes(rec[NAT_INSTANCE_ID], "big"))
            if NAT_INSTANCE_ID in rec
            else str(domain)
        )
        vrf = str(int.from_bytes(rec[INGRESS_VRF], "big")) if INGRESS_VRF in rec else ""
        return BlockEvent(
            event=kind,
            at_ms=at_ms,
            nat_instance=f"ipfix-{instance}",
            inside_vrf=vrf,
            inside_ip=str(ipaddress.IPv4Address(rec[SOURCE_IPV4])),
            outside_ip=str(ipaddress.IPv4Address(rec[POST_NAT_SOURCE_IPV4])),
            port_lo=lo,
            port_hi=hi,
            step=step,
            raw_ref=ref,
        )


def split_messages(data: bytes) -> Iterator[tuple[int, bytes | None]]:
    """(offset, message) of concatenated IPFIX messages; None when the framing is broken."""
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            yield pos, None
            return
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 16 or pos + length > len(data):
            yield pos, None
            return
        yield pos, data[pos : pos + length]
        pos += length


def read_ipfix_file(
    path: Path, events: Mapping[int, tuple[str, bool]] = RFC8158_EVENTS
) -> Iterator[BlockEvent | ParseError]:
    """A file of concatenated IPFIX messages (a capture of the export stream)."""
    decoder = IpfixDecoder(events)
    for no, (offset, msg) in enumerate(split_messages(path.read_bytes()), start=1):
        if msg is None:
            yield ParseError(f"broken IPFIX framing at byte {offset}", source=path.name, line_no=no)
            return
        try:
            yield from decoder.decode(msg, f"{path.name}#{no}")
        except (IpfixError, KeyError, IndexError, struct.error, ipaddress.AddressValueError) as err:
            yield ParseError(f"IPFIX message at byte {offset}: {err}", source=path.name, line_no=no)


# ---------------------------------------------------------------- encoding (tests, simulators)

PBA_TEMPLATE: Template = [
    (OBSERVATION_TIME_MS, 8),
    (NAT_EVENT, 1),
    (SOURCE_IPV4, 4),
    (POST_NAT_SOURCE_IPV4, 4),
    (PORT_RANGE_START, 2),
    (PORT_RANGE_END, 2),
    (PORT_RANGE_STEP, 2),
]
SESSION_TEMPLATE: Template = [
    (OBSERVATION_TIME_MS, 8),
    (NAT_EVENT, 1),
    (SOURCE_IPV4, 4),
    (SOURCE_PORT, 2),
    (POST_NAT_SOURCE_IPV4, 4),
    (POST_NAPT_SOURCE_PORT, 2),
]


def _encode_value(value: int | str, length: int) -> bytes:
    if isinstance(value, str):
        return ipaddress.IPv4Address(value).packed
    return value.to_bytes(length, "big")


def encode_message(
    domain: int,
    export_s: int,
    templates: Mapping[int, Template],
    data: Mapping[int, Sequence[Sequence[int | str]]],
    seq: int = 0,
) -> bytes:
    """One IPFIX message with template sets for `templates` and data sets for `data`."""
    sets = b""
    for tid, fields in templates.items():
        body = struct.pack("!HH", tid, len(fields)) + b"".join(
            struct.pack("!HH", ie, n) for ie, n in fields
        )
        sets += struct.pack("!HH", 2, 4 + len(body)) + body
    for tid, rows in data.items():
        fields = templates[tid]
        body = b"".join(
            b"".join(_encode_value(v, n) for v, (_, n) in zip(row, fields, strict=True))
            for row in rows
        )
        sets += struct.pack("!HH", tid, 4 + len(body)) + body
    return struct.pack("!HHIII", 10, 16 + len(sets), export_s, seq, domain) + sets
