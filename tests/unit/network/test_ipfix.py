from __future__ import annotations

from pathlib import Path

from netcx.adapters.cgnat.ipfix import (
    JUNIPER_DRAFT_EVENTS,
    PBA_TEMPLATE,
    SESSION_TEMPLATE,
    IpfixDecoder,
    encode_message,
    read_ipfix_file,
)
from netcx.domain.network.records import BlockEvent
from netcx.errors import ParseError

T = 1718000000


def test_templates_persist_across_messages_and_events_decode(tmp_path: Path) -> None:
    first = encode_message(7, T, {256: PBA_TEMPLATE, 257: SESSION_TEMPLATE}, {})
    data = encode_message(
        7, T + 5, {256: PBA_TEMPLATE, 257: SESSION_TEMPLATE},
        {
            256: [[T * 1000 + 1, 16, "100.64.0.5", "203.0.113.120", 4096, 5119, 1],
                  [T * 1000 + 9, 17, "100.64.0.5", "203.0.113.120", 4096, 5119, 1]],
            257: [[T * 1000 + 2, 4, "100.64.0.6", 40000, "203.0.113.121", 6000]],
        },
    )  # fmt: skip
    path = tmp_path / "x.ipfix"
    path.write_bytes(first + data + b"\x00\x0a\x00")  # trailing garbage: broken framing
    out = list(read_ipfix_file(path))
    events = [e for e in out if isinstance(e, BlockEvent)]
    errors = [e for e in out if isinstance(e, ParseError)]
    assert [
        (e.event, e.at_ms, e.inside_ip, e.outside_ip, e.port_lo, e.port_hi) for e in events
    ] == [
        ("alloc", T * 1000 + 1, "100.64.0.5", "203.0.113.120", 4096, 5119),
        ("release", T * 1000 + 9, "100.64.0.5", "203.0.113.120", 4096, 5119),
        ("alloc", T * 1000 + 2, "100.64.0.6", "203.0.113.121", 6000, 6000),
    ]
    assert events[0].nat_instance == "ipfix-7" and events[0].raw_ref == "x.ipfix#2"
    assert [(e.source, e.line_no) for e in errors] == [("x.ipfix", 3)]


def test_data_before_template_is_skipped_and_draft_numbering_is_selectable() -> None:
    tpl = {256: PBA_TEMPLATE}
    row = [[T * 1000, 14, "100.64.0.5", "203.0.113.120", 4096, 5119, 1]]
    dec = IpfixDecoder()
    data_only = encode_message(9, T, tpl, row and {256: row})
    # strip the template set: data arrives before any template (exporter restart)
    tset_len = int.from_bytes(data_only[18:20], "big")
    body = data_only[16 + tset_len :]
    raw = (10).to_bytes(2, "big") + (16 + len(body)).to_bytes(2, "big") + data_only[4:16] + body
    assert dec.decode(raw, "r") == []
    assert dec.decode(encode_message(9, T, tpl, {256: row}), "r") == []  # 14 is not RFC 8158
    juniper = IpfixDecoder(JUNIPER_DRAFT_EVENTS)
    assert [e.event for e in juniper.decode(encode_message(9, T, tpl, {256: row}), "r")] == [
        "alloc"
    ]
