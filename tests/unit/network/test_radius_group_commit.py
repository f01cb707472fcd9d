"""The listener's group commit: answers leave only after their group is durable."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pyrad import packet
from pyrad.dictionary import Dictionary

from netcx.adapters.radius.listener import DICTIONARY, AccountingListener, start_in_thread
from netcx.adapters.storage.bindings_journal import FileJournal
from netcx.domain.network.records import AccountingRecord

from .builders import T0, fixed

DICT = Dictionary(str(DICTIONARY))


def start(ident: int) -> bytes:
    pkt = packet.AcctPacket(id=ident, secret=b"s", dict=DICT)
    pkt["Acct-Status-Type"] = "Start"
    pkt["Acct-Session-Id"] = f"S{ident}"
    pkt["NAS-IP-Address"] = "192.0.2.20"
    pkt["Event-Timestamp"] = 1718000000 + ident
    return bytes(pkt.RequestPacket())


def drain(sock: socket.socket) -> list[int]:
    got = []
    try:
        while True:
            got.append(sock.recv(64, socket.MSG_DONTWAIT)[1])
    except BlockingIOError:
        return got


def test_group_commit_answers_only_after_the_group_is_durable(tmp_path: Path) -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    durable: set[int] = set()
    answered: list[int] = []
    early: list[int] = []

    class SlowJournal(FileJournal):  # a slow disk: requests pile up behind each fsync
        def append_accounting(self, records: Sequence[AccountingRecord]) -> None:
            for ident in drain(peer):
                answered.append(ident)
                if ident not in durable:
                    early.append(ident)
            time.sleep(0.03)
            super().append_accounting(records)
            durable.update(int(r.session_id[1:]) for r in records)

    lst = AccountingListener("127.0.0.1", 0, SlowJournal(tmp_path), default_secret=b"s")
    thread, stop = start_in_thread(lst)
    try:
        for ident in range(1, 241):
            peer.sendto(start(ident), lst.address)
            if ident % 40 == 0:
                time.sleep(0.01)
        deadline = time.monotonic() + 10
        while lst.stats.snapshot()["stored"] < 240 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(10)
    answered += drain(peer)  # the last group's answers, sent after its append
    peer.close()
    assert early == []
    assert sorted(answered) == list(range(1, 241)) and durable == set(range(1, 241))
    stats = lst.stats.snapshot()
    assert stats["stored"] == 240
    assert 1 < stats["commits"] < 240  # grouped: fewer fsyncs than packets


def test_recent_accounting_reads_the_newest_tail_only(tmp_path: Path) -> None:
    journal = FileJournal(tmp_path)
    day = 86_400_000
    journal.append_accounting([fixed("Start", f"old{i}", "u", T0 + i) for i in range(50)])
    journal.append_accounting([fixed("Start", f"new{i}", "u", T0 + day + i) for i in range(50)])
    recent = journal.recent_accounting(60, bytes_per_record=400)
    assert [r.session_id for r in recent[:50]] == [f"new{i}" for i in range(50)]
    assert [r.session_id for r in recent[50:]] == [f"old{i}" for i in range(40, 50)]


def test_a_failing_journal_stops_the_listener_without_answering(tmp_path: Path) -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))

    class FullDisk(FileJournal):
        def append_accounting(self, records: Sequence[AccountingRecord]) -> None:
            raise OSError(28, "No space left on device")

    lst = AccountingListener("127.0.0.1", 0, FullDisk(tmp_path), default_secret=b"s")
    raised: list[BaseException] = []

    def serve() -> None:
        try:
            lst.serve(threading.Event())
        except OSError as err:
            raised.append(err)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        peer.sendto(start(1), lst.address)
        thread.join(10)
        assert not thread.is_alive() and isinstance(raised[0], OSError)
        peer.sendto(start(1), lst.address)  # the NAS retries: still no answer
        assert drain(peer) == []
        assert lst.stats.snapshot()["stored"] == 0
    finally:
        peer.close()
