"""Journal durability/following and the listener's packet handling (no sockets to NASes)."""

from __future__ import annotations

import socket
from pathlib import Path

from pyrad import packet
from pyrad.dictionary import Dictionary

from netcx.adapters.radius.listener import (
    DICTIONARY,
    AccountingListener,
    accounting_response,
    request_authenticator_ok,
)
from netcx.adapters.storage.bindings_journal import FileJournal

from .builders import T0, fixed


def test_reference_test_vector() -> None:
    # network-logs.md §1.1, secret s3cr3t
    req = bytes.fromhex("040100240e41f3afbcbcade1ca6e58f4db3952ae2806000000012c045331080664400001")
    assert request_authenticator_ok(req, b"s3cr3t")
    assert not request_authenticator_ok(req, b"wrong")
    assert accounting_response(req, b"s3cr3t").hex() == "05010014dbae78156b6fc2f0bb0ac571f2928387"


def test_journal_is_followed_by_another_reader_and_purged_by_day(tmp_path: Path) -> None:
    writer = FileJournal(tmp_path)
    reader = FileJournal(tmp_path)
    assert reader.read_new_accounting() == []
    recs = [fixed("Start", "F1", "u", T0, framed_ip="198.18.0.1")]
    writer.append_accounting(recs)
    assert reader.read_new_accounting() == recs
    assert reader.read_new_accounting() == []  # offsets advance
    writer.append_accounting([fixed("Stop", "F1", "u", T0 + 86_400_000 * 3)])
    assert len(reader.read_new_accounting()) == 1
    assert writer.purge_before(T0 + 86_400_000) == 1  # the first day's file
    assert len(list((tmp_path / "accounting").glob("*.jsonl"))) == 1


def _request(secret: bytes, ident: int, **attrs: object) -> bytes:
    d = Dictionary(str(DICTIONARY))
    pkt = packet.AcctPacket(id=ident, secret=secret, dict=d)
    for k, v in attrs.items():
        pkt[k.replace("_", "-")] = v
    return bytes(pkt.RequestPacket())


def test_listener_verifies_dedupes_and_stores_before_answering(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path)
    lst = AccountingListener("127.0.0.1", 0, journal, default_secret=b"s3cr3t")
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    src = peer.getsockname()
    try:
        attrs = {
            "Acct_Status_Type": "Start", "Acct_Session_Id": "S1", "NAS_IP_Address": "192.0.2.20",
            "Calling_Station_Id": "447700900123", "Framed_IP_Address": "100.64.0.1",
            "Acct_Delay_Time": 4,
        }  # fmt: skip
        good = _request(b"s3cr3t", 1, **attrs)
        rebuilt = _request(b"s3cr3t", 2, **attrs)  # same event, new identifier
        bad = _request(b"other", 3, **attrs)
        lst.handle([(good, src), (good, src), (rebuilt, src), (bad, src), (b"\x01junk", src)])
        stored = journal.read_new_accounting()
        assert len(stored) == 1
        # no Event-Timestamp: arrival − Acct-Delay-Time
        assert stored[0].arrival_ms is not None
        assert stored[0].event_ms == stored[0].arrival_ms - 4000
        replies = [peer.recv(100) for _ in range(3)]
        assert [r[1] for r in replies] == [1, 1, 2]  # two answers to the retransmission
        stats = lst.stats.snapshot()
        assert stats["stored"] == 1 and stats["retransmissions"] == 1
        assert stats["duplicates"] == 1
        assert stats["dropped_bad_authenticator"] == 1 and stats["dropped_malformed"] == 1
        # a non-loopback source without a configured secret is an unknown NAS
        lst.handle([(good, ("192.0.2.99", 1813))])
        assert lst.stats.snapshot()["dropped_unknown_nas"] == 1
    finally:
        peer.close()
        lst.sock.close()


def test_fast_decoder_matches_pyrad_packet_decoding() -> None:
    from netcx.adapters.radius.codec import AttributeDecoder

    d = Dictionary(str(DICTIONARY))
    pkt = packet.AcctPacket(id=7, secret=b"s", dict=d)
    values = {
        "Acct-Status-Type": "Interim-Update", "Acct-Session-Id": "C0A8000A-7F3E21",
        "NAS-IP-Address": "192.0.2.20", "Calling-Station-Id": "447700900123",
        "Framed-IP-Address": "100.64.200.7", "Framed-IPv6-Prefix": "2001:db8:4400:12::/64",
        "Delegated-IPv6-Prefix": "2001:db8:ab00:1200::/56", "Event-Timestamp": 1718000000,
        "Acct-Session-Time": 900, "3GPP-IMSI": "001010123456789",
        "3GPP-IMEISV": "3534900612345601", "3GPP-RAT-Type": "EUTRAN",
        "3GPP-User-Location-Info": bytes.fromhex("8200f110000100f11000001a2d"),
        "3GPP-Charging-ID": 305419896,
    }  # fmt: skip
    for k, v in values.items():
        pkt[k] = v
    raw = bytes(pkt.RequestPacket())
    decoded = AttributeDecoder(d).decode(raw)
    reference = packet.AcctPacket(packet=raw, dict=d, secret=b"s")
    assert decoded == {k: reference[k][0] for k in reference.keys()}  # noqa: SIM118
    assert decoded["3GPP-RAT-Type"] == "EUTRAN"
    assert decoded["Event-Timestamp"] == 1718000000


def test_per_nas_secret_is_chosen_by_source_address(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path)
    lst = AccountingListener(
        "127.0.0.1", 0, journal, nas_secrets={"127.0.0.2": b"nas-two"}, default_secret=None
    )
    try:
        attrs = {"Acct_Status_Type": "Accounting-On", "NAS_IP_Address": "192.0.2.20",
                 "Event_Timestamp": 1718000000}  # fmt: skip
        lst.handle([(_request(b"nas-two", 1, **attrs), ("127.0.0.2", 40000))])
        lst.handle([(_request(b"nas-two", 2, **attrs), ("127.0.0.1", 40000))])  # no default
        stats = lst.stats.snapshot()
        assert (stats["stored"], stats["dropped_unknown_nas"]) == (1, 1)
        assert journal.read_new_accounting()[0].status == "Accounting-On"
    finally:
        lst.sock.close()
