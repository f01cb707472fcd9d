"""Attribute decoding for the listener's hot path, driven by a pyrad Dictionary.

pyrad's Packet class costs ~50 µs of CPU per accounting request here (measured in
bench/resolve.py), most of it in generic key/TLV bookkeeping. This walks the attribute
TLVs once and decodes each value with the dictionary's names, types and VALUE tables:
IPv4 addresses, 32-bit integers/dates and strings directly (pyrad's `DecodeAddress` goes
through `ipaddress`, ~4 µs per value), every other type with pyrad's own
`tools.DecodeAttr`, so the wire format semantics stay pyrad's. Given `wanted`, values of
other attributes are skipped without decoding.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from functools import partial

from pyrad import tools
from pyrad.dictionary import Dictionary

from netcx.adapters.radius.attributes import Value

VENDOR_SPECIFIC = 26

_Decode = Callable[[bytes], Value]
_Entry = tuple[str, _Decode, dict[bytes, str] | None]


def _ipaddr(value: bytes) -> str:
    if len(value) != 4:
        raise ValueError(f"Invalid ipaddr value: expected 4 bytes, got {len(value)}")
    return socket.inet_ntoa(value)


def _string(value: bytes) -> str | bytes:
    """pyrad's DecodeString for bytes: text if UTF-8, else the octets (nothing lost)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _uint32(value: bytes) -> int:
    if len(value) != 4:
        raise ValueError(f"Invalid integer value: expected 4 bytes, got {len(value)}")
    return int.from_bytes(value, "big")


_FAST: dict[str, _Decode] = {
    "ipaddr": _ipaddr,
    "integer": _uint32,
    "date": _uint32,
    "string": _string,
}


class AttributeDecoder:
    """raw Accounting-Request → {attribute name: first value} (only `wanted` names, if set)."""

    def __init__(self, dictionary: Dictionary, wanted: Iterable[str] | None = None) -> None:
        keep = None if wanted is None else frozenset(wanted)
        self._std: dict[int, _Entry] = {}
        self._vsa: dict[tuple[int, int], _Entry] = {}
        for name, attr in dictionary.attributes.items():
            if attr.type in ("tlv", "vsa") or not isinstance(attr.code, int):
                continue
            if keep is not None and name not in keep:
                continue
            decode = _FAST.get(attr.type) or partial(tools.DecodeAttr, attr.type)
            entry = (name, decode, dict(attr.values.backward) or None)
            if attr.vendor:
                vid = dictionary.vendors.GetForward(attr.vendor)
                self._vsa[(vid, attr.code)] = entry
            else:
                self._std[attr.code] = entry

    def decode(self, raw: bytes) -> dict[str, Value]:
        """ValueError if the TLVs do not add up to the packet length."""
        out: dict[str, Value] = {}
        end = int.from_bytes(raw[2:4], "big")
        std, vsa = self._std, self._vsa
        pos = 20
        while pos < end:
            if pos + 2 > end:
                raise ValueError("truncated attribute header")
            code, length = raw[pos], raw[pos + 1]
            if length < 2 or pos + length > end:
                raise ValueError(f"bad length {length} for attribute {code}")
            if code == VENDOR_SPECIFIC and length >= 8:
                value = raw[pos + 2 : pos + length]
                vid = int.from_bytes(value[:4], "big")
                vpos = 4
                while vpos + 2 <= len(value):
                    vcode, vlen = value[vpos], value[vpos + 1]
                    if vlen < 2 or vpos + vlen > len(value):
                        raise ValueError(f"bad vendor attribute length {vlen}")
                    entry = vsa.get((vid, vcode))
                    if entry is not None and entry[0] not in out:
                        out[entry[0]] = _value(entry, value[vpos + 2 : vpos + vlen])
                    vpos += vlen
            else:
                entry = std.get(code)
                if entry is not None and entry[0] not in out:
                    out[entry[0]] = _value(entry, raw[pos + 2 : pos + length])
            pos += length
        return out


def _value(entry: _Entry, value: bytes) -> Value:
    """The VALUE name if the dictionary has one for these octets, else the decoded value."""
    _, decode, names = entry
    if names is not None:
        named = names.get(value)
        if named is not None:
            return named
    return decode(value)
