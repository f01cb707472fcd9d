"""RADIUS accounting listener (UDP): verify, decode (pyrad), persist, then acknowledge.

One thread receives, verifies each Request Authenticator with the secret of its source
address and decodes attributes with the packaged dictionary (pyrad's dictionary and value
decoders, 3GPP VSAs included); a committer thread appends each group of new records to the
journal in one durable write (group commit) and only then sends that group's
Accounting-Responses (RFC 2866 §2). Exact retransmissions get the cached response;
re-sent events (same session, status and time) are acknowledged but stored once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyrad.dictionary import Dictionary

from netcx.adapters.radius.attributes import RECORD_ATTRIBUTES, record_from_attributes
from netcx.adapters.radius.codec import AttributeDecoder
from netcx.domain.network.records import AccountingRecord
from netcx.errors import InvalidInput
from netcx.ports import BindingJournal

log = logging.getLogger("netcx.radius")

DICTIONARY = Path(__file__).with_name("dictionary") / "dictionary"
ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5
REMEMBERED = 65536  # answers and event keys kept for retransmission detection

COUNTERS = (
    "received",
    "accepted",
    "stored",
    "commits",
    "retransmissions",
    "duplicates",
    "dropped_unknown_nas",
    "dropped_bad_authenticator",
    "dropped_malformed",
)


_ZEROS = bytes(16)
_RESPONSE_HEADERS = [bytes([ACCOUNTING_RESPONSE, i, 0, 20]) for i in range(256)]


def request_authenticator_ok(raw: bytes, secret: bytes) -> bool:
    """RFC 2866 §3: MD5(Code+Id+Length+16 zero octets+attributes+secret)."""
    return hashlib.md5(b"".join((raw[:4], _ZEROS, raw[20:], secret))).digest() == raw[4:20]  # noqa: S324


def accounting_response(request: bytes, secret: bytes) -> bytes:
    header = _RESPONSE_HEADERS[request[1]]
    return header + hashlib.md5(b"".join((header, request[4:20], secret))).digest()  # noqa: S324


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _nas_label(ip: str, names: dict[str, str]) -> str:
    """How a NAS appears in logs: its configured name, else a short hash (no raw IP)."""
    return names.get(ip) or "nas#" + hashlib.sha256(ip.encode()).hexdigest()[:8]


@dataclass
class ListenerStats:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_all(self, counts: dict[str, int]) -> None:
        with self.lock:
            for name, n in counts.items():
                self.counts[name] += n

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class AccountingListener:
    """Binds on construction; `serve(stop)` runs until `stop` is set."""

    def __init__(
        self,
        host: str,
        port: int,
        journal: BindingJournal,
        *,
        nas_secrets: dict[str, bytes] | None = None,
        default_secret: bytes | None = None,
        nas_names: dict[str, str] | None = None,
        stats_file: Path | None = None,
        batch: int = 256,
        stored: Iterable[AccountingRecord] = (),
    ) -> None:
        """`stored`: records already in the journal (e.g. its tail); their retransmissions
        after a restart are acknowledged, not stored again."""
        self.journal = journal
        self.nas_secrets = dict(nas_secrets or {})
        self.default_secret = default_secret
        self.nas_names = dict(nas_names or {})
        self.stats_file = stats_file
        self.batch = batch
        self.stats = ListenerStats()
        self.dictionary = Dictionary(str(DICTIONARY))
        self.decoder = AttributeDecoder(self.dictionary, RECORD_ATTRIBUTES)
        # per source address: (secret, log label); filled on first valid use
        self._peers: dict[str, tuple[bytes, str]] = {}
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((host, port))
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self._responses: OrderedDict[tuple[str, int, bytes], bytes] = OrderedDict()
        self._seen: OrderedDict[tuple[str, str, str, int, int], None] = OrderedDict()
        for record in stored:
            self._remember(self._seen, record.dedupe_key(), None)
        self._stats_dirty = False
        self._stats_written = 0.0

    # ------------------------------------------------------------ loop

    def serve(self, stop: threading.Event) -> None:
        """Receive and verify on this thread; a committer thread makes each group of
        records durable (one write + fsync) and then sends that group's answers. While
        one fsync runs the next group gathers, so the batch grows with the load.

        If the journal fails, nothing more is answered (an answer would claim a record is
        stored, and a retransmission would get the cached answer): the listener stops and
        the error is raised here; NASes keep their records and retry.
        """
        self.sock.settimeout(0.2)
        pending: list[tuple[list[AccountingRecord], list[tuple[bytes, tuple[str, int]]]]] = []
        ready = threading.Condition()
        done = threading.Event()
        failed: list[Exception] = []

        def committer() -> None:
            while True:
                with ready:
                    while not pending and not done.is_set():
                        ready.wait(0.2)
                    if not pending and done.is_set():
                        return
                    groups = pending[:]
                    pending.clear()
                records = [r for recs, _ in groups for r in recs]
                replies = [x for _, reps in groups for x in reps]
                try:
                    self._commit(records, replies)
                except Exception as err:
                    log.error("radius.journal_failed error=%s", err.__class__.__name__)
                    failed.append(err)
                    return

        worker = threading.Thread(target=committer, name="radius-commit", daemon=True)
        worker.start()
        try:
            while not stop.is_set() and not failed:
                try:
                    first = self.sock.recvfrom(4096)
                except TimeoutError:
                    self._write_stats(force=False)
                    continue
                datagrams = [first]
                self.sock.setblocking(False)
                try:
                    while len(datagrams) < self.batch:
                        datagrams.append(self.sock.recvfrom(4096))
                except BlockingIOError:
                    pass
                finally:
                    self.sock.settimeout(0.2)
                group = self._prepare(datagrams)
                with ready:
                    pending.append(group)
                    ready.notify()
                self._write_stats(force=False)
        finally:
            done.set()
            with ready:
                ready.notify()
            worker.join(10)
            self._write_stats(force=True)
            self.sock.close()
        if failed:
            raise failed[0]

    def handle(self, datagrams: list[tuple[bytes, tuple[str, int]]]) -> None:
        """Verify and decode a batch, persist new records once, then answer."""
        self._commit(*self._prepare(datagrams))

    def _prepare(
        self, datagrams: list[tuple[bytes, tuple[str, int]]]
    ) -> tuple[list[AccountingRecord], list[tuple[bytes, tuple[str, int]]]]:
        replies: list[tuple[bytes, tuple[str, int]]] = []
        new_records: list[AccountingRecord] = []
        counts = dict.fromkeys(COUNTERS, 0)
        counts["received"] = len(datagrams)
        now_ms = int(time.time() * 1000)
        for raw, addr in datagrams:
            reply = self._one(raw, addr, now_ms, new_records, counts)
            if reply is not None:
                replies.append((reply, addr))
        self.stats.add_all(counts)
        return new_records, replies

    def _commit(
        self, new_records: list[AccountingRecord], replies: list[tuple[bytes, tuple[str, int]]]
    ) -> None:
        if new_records:
            self.journal.append_accounting(new_records)  # durable before any answer
            self.stats.add_all({"stored": len(new_records), "commits": 1})
        for reply, addr in replies:
            try:
                self.sock.sendto(reply, addr)
            except OSError as err:
                log.warning("radius.reply_failed error=%s", err.__class__.__name__)
        self._stats_dirty = True

    def _peer(self, src: str) -> tuple[bytes, str] | None:
        """(shared secret, log label) of a source address; None for an unknown NAS."""
        peer = self._peers.get(src)
        if peer is None:
            secret = self.nas_secrets.get(src)
            if secret is None and self.default_secret is not None and _is_loopback(src):
                secret = self.default_secret
            if secret is None:
                return None  # not cached: spoofed sources must not grow the table
            peer = self._peers[src] = (secret, _nas_label(src, self.nas_names))
        return peer

    def _one(
        self,
        raw: bytes,
        addr: tuple[str, int],
        now_ms: int,
        new: list[AccountingRecord],
        counts: dict[str, int],
    ) -> bytes | None:
        src = addr[0]
        length = int.from_bytes(raw[2:4], "big")
        if len(raw) < 20 or raw[0] != ACCOUNTING_REQUEST or length > len(raw):
            return self._drop(counts, "dropped_malformed", src, "not an Accounting-Request")
        if length < len(raw):
            raw = raw[:length]
        peer = self._peer(src)
        if peer is None:
            return self._drop(counts, "dropped_unknown_nas", src, "no secret for this source")
        secret, label = peer
        if not request_authenticator_ok(raw, secret):
            return self._drop(
                counts, "dropped_bad_authenticator", src, "request authenticator mismatch"
            )
        key = (src, raw[1], raw[4:20])
        cached = self._responses.get(key)
        if cached is not None:  # same NAS, identifier and authenticator: a retransmission
            counts["retransmissions"] += 1
            return cached
        try:
            record = record_from_attributes(
                self.decoder.decode(raw), arrival_ms=now_ms, raw_ref=f"radius:{label}:{raw[1]}"
            )
        except (InvalidInput, KeyError, ValueError, IndexError, struct.error) as err:
            detail = str(err) if isinstance(err, InvalidInput) else err.__class__.__name__
            return self._drop(counts, "dropped_malformed", src, detail)
        reply = accounting_response(raw, secret)
        self._remember(self._responses, key, reply)
        dedupe = record.dedupe_key()
        if dedupe in self._seen:  # rebuilt retransmission (e.g. larger Acct-Delay-Time)
            counts["duplicates"] += 1
        else:
            self._remember(self._seen, dedupe, None)
            new.append(record)
        counts["accepted"] += 1
        return reply

    @staticmethod
    def _remember(cache: OrderedDict, key: object, value: object, limit: int = REMEMBERED) -> None:  # type: ignore[type-arg]
        cache[key] = value
        if len(cache) > limit:
            cache.popitem(last=False)

    def _drop(self, counts: dict[str, int], counter: str, src: str, why: str) -> bytes | None:
        """Count and log a dropped request; no answer goes back (the NAS will retry)."""
        counts[counter] += 1
        log.warning(
            "radius.drop reason=%s nas=%s detail=%s",
            counter.removeprefix("dropped_"),
            _nas_label(src, self.nas_names),
            why,
        )
        return None

    def _write_stats(self, *, force: bool) -> None:
        if self.stats_file is None or not (self._stats_dirty or force):
            return
        now = time.monotonic()
        if not force and now - self._stats_written < 0.2:
            return
        tmp = self.stats_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.stats.snapshot()))
        tmp.replace(self.stats_file)
        self._stats_dirty = False
        self._stats_written = now


def start_in_thread(listener: AccountingListener) -> tuple[threading.Thread, threading.Event]:
    """Run the listener beside another server in this process (`netcx serve`)."""
    stop = threading.Event()
    thread = threading.Thread(target=listener.serve, args=(stop,), name="radius", daemon=True)
    thread.start()
    return thread, stop
