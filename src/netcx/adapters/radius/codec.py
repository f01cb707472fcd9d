"""Attribute decoding for the listener's hot path, driven by a pyrad Dictionary.

pyrad's Packet class costs ~50 µs of CPU per accounting request here (measured in
bench/resolve.py), most of it in generic key/TLV bookkeeping. This walks the attribute
TLVs once and decodes each value with pyrad's own `tools.DecodeAttr` and the dictionary's
names, types and VALUE tables, so the wire format semantics stay pyrad's.
"""

from __future__ import annotations

from pyrad import tools
from pyrad.dictionary import Dictionary

from netcx.adapters.radius.attributes import Value

VENDOR_SPECIFIC = 26

_Entry = tuple[str, str, dict[bytes, str]]


class AttributeDecoder:
    """raw Accounting-Request → {attribute name: first value}."""

    def __init__(self, dictionary: Dictionary) -> None:
        self._std: dict[int, _Entry] = {}
        self._vsa: dict[tuple[int, int], _Entry] = {}
        for name, attr in dictionary.attributes.items():
            if attr.type in ("tlv", "vsa") or not isinstance(attr.code, int):
                continue
            entry = (name, attr.type, dict(attr.values.backward))
            if attr.vendor:
                vid = dictionary.vendors.GetForward(attr.vendor)
                self._vsa[(vid, attr.code)] = entry
            else:
                self._std[attr.code] = entry

    def decode(self, raw: bytes) -> dict[str, Value]:
        """ValueError if the TLVs do not add up to the packet length."""
        out: dict[str, Value] = {}
        end = int.from_bytes(raw[2:4], "big")
        pos = 20
        while pos < end:
            if pos + 2 > end:
                raise ValueError("truncated attribute header")
            code, length = raw[pos], raw[pos + 1]
            if length < 2 or pos + length > end:
                raise ValueError(f"bad length {length} for attribute {code}")
            value = raw[pos + 2 : pos + length]
            pos += length
            if code == VENDOR_SPECIFIC and len(value) >= 6:
                vid = int.from_bytes(value[:4], "big")
                vpos = 4
                while vpos + 2 <= len(value):
                    vcode, vlen = value[vpos], value[vpos + 1]
                    if vlen < 2 or vpos + vlen > len(value):
                        raise ValueError(f"bad vendor attribute length {vlen}")
                    self._put(out, self._vsa.get((vid, vcode)), value[vpos + 2 : vpos + vlen])
                    vpos += vlen
            else:
                self._put(out, self._std.get(code), value)
        return out

    @staticmethod
    def _put(out: dict[str, Value], entry: _Entry | None, value: bytes) -> None:
        if entry is None:
            return
        name, kind, names = entry
        if name in out:
            return
        named = names.get(value)
        out[name] = named if named is not None else tools.DecodeAttr(kind, value)
