"""Embedded EventLog: append-only segment files with CRC-framed records and group commit.

Layout: `<dir>/w<slot>-<seq>.seg`. Each writer process holds `w<slot>.lock` (flock), so
several server workers can share a directory, each appending to its own segments; a writer
always starts a fresh segment, so a record torn by a crash is only ever at the end of a
segment that nobody appends to again, and readers stop there.

Record frame: little-endian u32 payload length, u32 CRC-32 of the payload, then the payload
(msgpack of an event or a recognition record).

Group commit: request handlers hand encoded records to one writer thread and await a future;
the thread takes everything queued, drops keys already stored, writes it in one `write`,
fdatasyncs according to the policy and only then resolves the futures — so an acknowledged
event is on disk, and concurrent requests share one fsync.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from netcx.domain.events import Event, Recognition, StoredEvent
from netcx.errors import InvalidInput, ParseError, Unavailable

FsyncPolicy = Literal["always", "interval", "never"]

_FRAME = struct.Struct("<II")
_SEGMENT = re.compile(r"^w(\d+)-(\d+)\.seg$")
_MAX_WRITERS = 64

Key = tuple[str, str]


class _EventRecord(msgspec.Struct, tag="e"):
    event: Event


class _RecognitionRecord(msgspec.Struct, tag="r"):
    source: str
    event_id: str
    recognition: Recognition


class _KeyFields(msgspec.Struct):
    source: str
    event_id: str


class _EventKey(msgspec.Struct, tag="e"):
    event: _KeyFields


class _RecognitionKey(msgspec.Struct, tag="r"):
    pass


_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(_EventRecord | _RecognitionRecord)
_key_decoder = msgspec.msgpack.Decoder(_EventKey | _RecognitionKey)


def _frame(record: _EventRecord | _RecognitionRecord) -> bytes:
    payload = _encoder.encode(record)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _segments(directory: Path) -> list[Path]:
    """Segment files ordered by (writer slot, sequence)."""
    found = []
    for path in directory.glob("w*-*.seg"):
        m = _SEGMENT.match(path.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), path))
    return [p for _, _, p in sorted(found)]


def _payloads(path: Path) -> Iterator[bytes]:
    """The intact records of a segment; stops at an incomplete or torn tail."""
    data = path.read_bytes()
    pos, end = 0, len(data)
    while pos + _FRAME.size <= end:
        length, crc = _FRAME.unpack_from(data, pos)
        start = pos + _FRAME.size
        if start + length > end:
            return
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            return
        yield payload
        pos = start + length


def _stored_keys(directory: Path) -> set[Key]:
    keys: set[Key] = set()
    for path in _segments(directory):
        for payload in _payloads(path):
            record = _key_decoder.decode(payload)
            if isinstance(record, _EventKey):
                keys.add((record.event.source, record.event.event_id))
    return keys


def _resolve(future: asyncio.Future[list[bool]], flags: list[bool]) -> None:
    if not future.done():
        future.set_result(flags)


def _fail(future: asyncio.Future[list[bool]], err: BaseException) -> None:
    if not future.done():
        future.set_exception(err)


@dataclass
class _Job:
    items: list[tuple[Key | None, bytes]]
    future: asyncio.Future[list[bool]]
    loop: asyncio.AbstractEventLoop


class _Writer:
    """One writer slot of a directory: owns the lock, the open segment and the thread."""

    def __init__(
        self,
        directory: Path,
        fsync: FsyncPolicy,
        fsync_interval_s: float,
        segment_bytes: int,
    ) -> None:
        self._dir = directory
        self._fsync = fsync
        self._interval_s = fsync_interval_s
        self._segment_bytes = segment_bytes
        self._slot, self._lock_fd = self._take_slot()
        self._seen = _stored_keys(directory)
        self._seq = max(
            (
                int(m.group(2))
                for p in directory.glob(f"w{self._slot}-*.seg")
                if (m := _SEGMENT.match(p.name)) and int(m.group(1)) == self._slot
            ),
            default=0,
        )
        self._fd = -1
        self._size = 0
        self._dirty = False
        self._open_next_segment()
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._closing = False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="netcx-eventlog", daemon=True)
        self._thread.start()

    def _take_slot(self) -> tuple[int, int]:
        for slot in range(_MAX_WRITERS):
            fd = os.open(self._dir / f"w{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return slot, fd
        raise Unavailable(f"event log {self._dir}: all {_MAX_WRITERS} writer slots are taken")

    def _open_next_segment(self) -> None:
        self._seq += 1
        path = self._dir / f"w{self._slot}-{self._seq:08d}.seg"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._size = 0
        if self._fsync != "never":
            # The new file's directory entry must be durable too, or the segment can vanish.
            dir_fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    async def submit(self, items: list[tuple[Key | None, bytes]]) -> list[bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bool]] = loop.create_future()
        with self._cond:
            if self._failure is not None:
                raise Unavailable(f"event log {self._dir} failed: {self._failure}")
            if self._closing:
                raise Unavailable(f"event log {self._dir} is closed")
            self._queue.append(_Job(items, future, loop))
            self._cond.notify()
        return await future

    def _run(self) -> None:
        last_sync = 0.0
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    if self._dirty and self._fsync == "interval":
                        if not self._cond.wait(self._interval_s):
                            break
                    else:
                        self._cond.wait()
                jobs, self._queue = self._queue, []
                closing = self._closing
            if jobs:
                self._commit(jobs)
            if self._dirty and self._fsync == "interval":
                now = time.monotonic()
                if now - last_sync >= self._interval_s or closing:
                    self._sync()
                    last_sync = now
            if closing:
                with self._cond:
                    if not self._queue:
                        return

    def _commit(self, jobs: list[_Job]) -> None:
        results: list[list[bool]] = []
        batch: set[Key] = set()
        buf = bytearray()
        for job in jobs:
            flags = []
            for key, frame in job.items:
                if key is not None and (key in self._seen or key in batch):
                    flags.append(False)
                    continue
                if key is not None:
                    batch.add(key)
                buf += frame
                flags.append(True)
            results.append(flags)
        try:
            self._write(bytes(buf))
        except OSError as err:
            # A failed write leaves the segment in an unknown state: refuse further appends
            # (clients get 503 and retry) rather than acknowledge what may not be stored.
            failure = Unavailable(f"event log {self._dir}: write failed: {err}")
            with self._cond:
                self._failure = failure
            for job in jobs:
                job.loop.call_soon_threadsafe(_fail, job.future, failure)
            return
        self._seen |= batch
        for job, flags in zip(jobs, results, strict=True):
            job.loop.call_soon_threadsafe(_resolve, job.future, flags)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)
        if self._fsync == "always":
            os.fdatasync(self._fd)
        elif data:
            self._dirty = True
        if self._size >= self._segment_bytes:
            self._sync()
            os.close(self._fd)
            self._open_next_segment()

    def _sync(self) -> None:
        if self._fsync != "never":
            os.fdatasync(self._fd)
        self._dirty = False

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self._sync()
        os.close(self._fd)
        os.close(self._lock_fd)


class SegmentEventLog:
    """The embedded default EventLog (see the module docstring for the format)."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: FsyncPolicy = "always",
        fsync_interval_ms: int = 200,
        segment_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._dir = directory
        self._fsync: FsyncPolicy = fsync
        self._interval_s = fsync_interval_ms / 1000
        self._segment_bytes = segment_bytes
        self._writer: _Writer | None = None
        self._open_lock = threading.Lock()

    def _get_writer(self) -> _Writer:
        # Opened on first append, so read-only users (the CLI) never take a writer slot.
        if self._writer is None:
            with self._open_lock:
                if self._writer is None:
                    self._dir.mkdir(parents=True, exist_ok=True)
                    self._writer = _Writer(
                        self._dir, self._fsync, self._interval_s, self._segment_bytes
                    )
        return self._writer

    async def append(self, events: Sequence[Event]) -> list[bool]:
        if not events:
            return []
        items: list[tuple[Key | None, bytes]] = []
        for n, event in enumerate(events):
            try:
                items.append((event.key, _frame(_EventRecord(event))))
            except OverflowError as err:
                field = event.oversized_int_field()
                raise InvalidInput(
                    f"event {n}: integer outside the 64-bit range", field=field
                ) from err
        return await self._get_writer().submit(items)

    async def record_recognitions(self, recognised: Sequence[tuple[Event, Recognition]]) -> None:
        if not recognised:
            return
        items: list[tuple[Key | None, bytes]] = [
            (None, _frame(_RecognitionRecord(e.source.value, e.event_id, r))) for e, r in recognised
        ]
        await self._get_writer().submit(items)

    def read(self) -> Iterator[StoredEvent]:
        events: dict[Key, Event] = {}
        recognitions: dict[Key, Recognition] = {}
        if self._dir.is_dir():
            for path in _segments(self._dir):
                for n, payload in enumerate(_payloads(path), start=1):
                    try:
                        record = _record_decoder.decode(payload)
                    except msgspec.DecodeError as err:
                        raise ParseError(str(err), source=str(path), line_no=n) from err
                    if isinstance(record, _EventRecord):
                        # Two workers may both store a retried event: the first one counts.
                        events.setdefault(record.event.key, record.event)
                    else:
                        recognitions[(record.source, record.event_id)] = record.recognition
        ordered = sorted(events.values(), key=lambda e: e.received_ms)
        for event in ordered:
            yield StoredEvent(event, recognitions.get(event.key))

    def close(self) -> None:
        with self._open_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
