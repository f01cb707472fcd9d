"""Embedded EventLog: append-only segment files with CRC-framed records and group commit.

Layout: `<dir>/w<slot>-<seq>.seg`. Each writer process holds `w<slot>.lock` (flock), so
several server workers can share a directory, each appending to its own segments; a writer
always starts a fresh segment, so a record torn by a crash is only ever at the end of a
segment that nobody appends to again, and readers stop there.

Record frame: little-endian u32 payload length, u32 CRC-32 of the payload, then the payload
(msgpack of an event or a recognition record).

Group commit, on the event loop: `append` drops keys already stored and queues the rest;
at the end of the loop iteration one `write` takes everything queued by every request (so a
process crash after it loses nothing) and, with fsync=always, one fdatasync follows. An
append returns only after its write (and sync) — so an acknowledged event is on disk, and
concurrent requests share syscalls and fsyncs. The fdatasync runs in a worker thread, one
at a time: the loop keeps taking requests meanwhile, and what they write is synced by the
next one, started as soon as the running one ends (the group is whatever arrived during a
sync). Under load a sync takes 0.1-5 ms here; run inline on the loop, it left the cores a
sixth idle (docs/collector.md, Speed). Optionally (`linger_ms`, default 0), while requests
stream in (a flush within the last 5 ms), a group first lingers so that more requests share
its write. The recognitions recorded during an iteration are written with its flush, as
one record.

Erasure and retention never move a record: each dropped record is overwritten in place by
a filler frame of the same length (payload 0xC1 — never valid msgpack — then zeros), so byte
offsets into a segment (the bus forwarder's checkpoint) stay valid and a writer may go on
appending to the same file meanwhile. The overwrites are first committed to `erase.journal`
(fsync, atomic rename), then applied and synced, then the journal is removed; whoever opens
the directory next finishes an erasure a crash interrupted, so a crash loses nothing else
and leaves no half-erased subject. A segment left with fillers only is deleted once its
writer has moved on (its name is never reused).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from netcx.domain.events import Event, EventHead, Recognition, Source, StoredEvent
from netcx.errors import InvalidInput, ParseError, Unavailable

FsyncPolicy = Literal["always", "interval", "never"]

_log = logging.getLogger("netcx.collect.eventlog")

_FRAME = struct.Struct("<II")
_SEGMENT = re.compile(r"^w(\d+)-(\d+)\.seg$")
_MAX_WRITERS = 64

Key = tuple[str, str]


class _EventRecord(msgspec.Struct, tag="e", kw_only=True, omit_defaults=True):
    # `inline`: the worker that stored the event recognises it and appends its recognition
    # (a batch in follower mode), so the recognition follower passes over it. Declared
    # before `event` and left out when False, so an event record is a fixed prefix and the
    # encoded event (the prefix of records written before it existed).
    inline: bool = False
    event: Event


class _Recognised(msgspec.Struct, array_like=True):
    source: str
    event_id: str
    recognition: Recognition


class _Recognitions(msgspec.Struct, tag="r"):
    items: list[_Recognised]


class _RecognisedKeys(msgspec.Struct, tag="r"):
    items: list[tuple[str, str, msgspec.Raw]]  # a _Recognised, its recognition not decoded


class _KeyFields(msgspec.Struct):
    source: str
    event_id: str


class _EventKey(msgspec.Struct, tag="e"):
    event: _KeyFields


class _RecognitionKey(msgspec.Struct, tag="r"):
    pass


_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(_EventRecord | _Recognitions)
_key_decoder = msgspec.msgpack.Decoder(_EventKey | _RecognitionKey)
_head_decoder = msgspec.msgpack.Decoder(EventHead)  # what recognition reads of an event
_recognised_keys_decoder = msgspec.msgpack.Decoder(_RecognisedKeys)


def _frame(record: _EventRecord | _Recognitions) -> bytes:
    payload = _encoder.encode(record)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


_PROBE = Event(Source.TAG, "", "", 0)
_EVENT_PREFIX = _encoder.encode(_EventRecord(event=_PROBE))[: -len(_encoder.encode(_PROBE))]
"""An event record's payload up to its event (`_EventRecord`'s tag, then its `event` key):
the encoded event completes it."""
_INLINE_PREFIX = _encoder.encode(_EventRecord(inline=True, event=_PROBE))[
    : -len(_encoder.encode(_PROBE))
]
"""The same for an event its worker recognises (`inline`)."""


@dataclass(frozen=True, slots=True)
class Followed:
    """What `SegmentEventLog.follow` read: events in write order, the keys of the
    recognitions met on the way, the byte offset to continue from, and where records
    that passed their checksum but do not decode end (skipped, for the caller to report)."""

    events: list[EventHead]
    recognised: list[Key]
    end: int
    damaged: list[int]


def _event_frames(events: Sequence[Event], inline: bool = False) -> list[tuple[Key, bytes]]:
    """Each event's key and frame, byte-identical to `_frame(_EventRecord(inline=inline,
    event=event))` without building the record (a third of the framing CPU)."""
    frames: list[tuple[Key, bytes]] = []
    prefix = _INLINE_PREFIX if inline else _EVENT_PREFIX
    for n, event in enumerate(events):
        try:
            payload = prefix + _encoder.encode(event)
        except OverflowError as err:
            field = event.oversized_int_field()
            raise InvalidInput(f"event {n}: integer outside the 64-bit range", field=field) from err
        # event.key, without the Enum.value property lookup (a tenth of framing an event)
        key = (event.source._value_, event.event_id)
        frames.append((key, _FRAME.pack(len(payload), zlib.crc32(payload)) + payload))
    return frames


def _segments(directory: Path) -> list[Path]:
    """Segment files ordered by (writer slot, sequence)."""
    found = []
    for path in directory.glob("w*-*.seg"):
        m = _SEGMENT.match(path.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), path))
    return [p for _, _, p in sorted(found)]


def _payloads(path: Path) -> Iterator[bytes]:
    """The intact records of a segment, fillers left out; stops at an incomplete or torn
    tail."""
    for _, payload in _framed(path, 0):
        if payload[:1] != _FILLER:
            yield payload


_READ_CHUNK = 1 << 20
"""Bytes read at a time: a reader that stops early (the follower's group is full) does not
read the rest of a 64 MB segment."""


def _framed(path: Path, offset: int) -> Iterator[tuple[int, bytes]]:
    """(offset just after it, payload) of each intact record after byte `offset`, fillers
    included; stops at an incomplete or torn tail."""
    with path.open("rb") as f:
        f.seek(offset)
        data, pos, base = b"", 0, offset  # base: the file offset of data[0]
        while chunk := f.read(_READ_CHUNK):
            data, base = data[pos:] + chunk, base + pos
            pos, end = 0, len(data)
            while pos + _FRAME.size <= end:
                length, crc = _FRAME.unpack_from(data, pos)
                start = pos + _FRAME.size
                if start + length > end:
                    break  # the rest of this record is in the next chunk (or torn)
                payload = data[start : start + length]
                if zlib.crc32(payload) != crc:
                    return
                pos = start + length
                yield base + pos, payload


_FILLER = b"\xc1"
"""First payload byte of a filler frame (erased bytes): 0xC1 is never valid msgpack."""


def _filler(length: int) -> bytes:
    """A frame of exactly `length` bytes that every reader skips."""
    payload = _FILLER + bytes(length - _FRAME.size - 1)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    """One record of a segment, for tailing readers (the bus forwarder): an event, or a
    batch of recognitions (`(source, event_id) -> recognition`). `end` is the byte offset
    just after the record, a resumable checkpoint within `segment`."""

    segment: Path
    end: int
    event: Event | None = None
    recognitions: tuple[tuple[Key, Recognition], ...] = ()


def _stored_keys(directory: Path, since_s: float) -> set[Key]:
    """Keys of the events in segments written to since `since_s` (epoch seconds); a record
    that does not decode is passed over (a writer must still start: `read` names it)."""
    keys: set[Key] = set()
    for path in _segments(directory):
        if path.stat().st_mtime < since_s:
            continue
        for payload in _payloads(path):
            try:
                record = _key_decoder.decode(payload)
            except msgspec.DecodeError:
                continue
            if isinstance(record, _EventKey):
                keys.add((record.event.source, record.event.event_id))
    return keys


_BUSY_S = 0.005
"""A flush within this long before means requests are streaming in: the next one lingers."""

_FLUSH_NOW_BYTES = 1 << 20
"""A lingering group this large is written at once."""


def _sync_and_close(fd: int) -> None:
    """fdatasync a duplicated descriptor, then close it."""
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class Checkpoint:
    """How far a tailing reader (the bus forwarder, the recognition follower) has handled
    the log: a byte offset per segment file, kept in a JSON file beside the segments.

    `sync=True` (the forwarder, whose progress must survive a power loss): replaced
    atomically, fsync'ed first. `sync=False` (the recognition follower, whose records in the
    log are the truth and the checkpoint only a shortcut): overwritten in place with one
    `pwrite`, padded with spaces — a rename per group cost a millisecond. A reader that
    meets a half-written file reads again; one a crash left damaged reads as empty."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        self.path = path
        self._sync = sync
        self._fd = -1
        self._written = 0  # length of what is in the file (sync=False)
        self.offsets: dict[str, int] = self._load()

    def _load(self) -> dict[str, int]:
        for _ in range(3):
            try:
                text = self.path.read_bytes()
            except FileNotFoundError:
                return {}
            try:
                loaded: dict[str, int] = json.loads(text) if text.strip() else {}
                return loaded
            except json.JSONDecodeError:
                time.sleep(0.001)  # caught mid-write: the next read sees it whole
        if self._sync:
            raise ParseError("checkpoint is not valid JSON", source=str(self.path), line_no=1)
        return {}  # damaged by a crash mid-write: start over (the log's records say more)

    def reload(self) -> None:
        """Re-read the file (another process may have moved it)."""
        self.offsets = self._load()

    def save(self) -> None:
        data = json.dumps(self.offsets).encode()
        if not self._sync:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._written = os.fstat(self._fd).st_size
            os.pwrite(self._fd, data.ljust(self._written), 0)
            self._written = max(self._written, len(data))
            return
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def keep_only(self, segments: Sequence[Path]) -> None:
        """Forget (and save without) the segments deleted since: spent by erasure."""
        present = {s.name for s in segments}
        if any(name not in present for name in self.offsets):
            self.offsets = {n: o for n, o in self.offsets.items() if n in present}
            self.save()

    def unread_bytes(self, segments: Sequence[Path]) -> int:
        """Bytes of `segments` past the checkpoint (0: everything is handled)."""
        return sum(max(0, s.stat().st_size - self.offsets.get(s.name, 0)) for s in segments)


class RecentKeys:
    """Keys seen within about `window_s`, in two generations of half a window each: a key
    is remembered for between half and a whole window, and memory stays bounded by one
    window of traffic. The writers' dedupe and the recognition follower's once-each rule."""

    def __init__(self, window_s: float, keys: set[Key] | None = None) -> None:
        self._half_s = window_s / 2
        self._now: set[Key] = set() if keys is None else keys
        self._before: set[Key] = set()
        self._ends = time.monotonic() + self._half_s

    def expire(self) -> None:
        """Start a new generation once the current one is half a window old."""
        now = time.monotonic()
        if now > self._ends:
            # After a quiet spell longer than a whole window, both generations have expired.
            recent = now <= self._ends + self._half_s
            self._before, self._now = (self._now if recent else set()), set()
            self._ends = now + self._half_s

    def __contains__(self, key: Key) -> bool:
        return key in self._now or key in self._before

    def add_all(self, keys: Iterable[Key]) -> None:
        self.expire()
        self._now.update(keys)


def unread_bytes(directory: Path, checkpoint: str) -> int:
    """Bytes of the log in `directory` past a tailing reader's checkpoint file (0: it has
    handled everything, or there is no log yet)."""
    if not directory.is_dir():
        return 0
    return Checkpoint(directory / checkpoint).unread_bytes(SegmentEventLog(directory).segments())


async def wait_for_role(
    take: Callable[[], bool], stop: asyncio.Event, retry_s: float, what: str, directory: Path
) -> bool:
    """Try `take` (a tailing reader becoming the directory's one forwarder or follower)
    every `retry_s` until it succeeds (True) or `stop` is set (False)."""
    if take():
        return True
    _log.info("%s_waiting reason=another_process_holds_the_lock dir=%s", what, directory)
    while not take():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), retry_s)
        if stop.is_set():
            return False
    return True


class _Overwrite(msgspec.Struct, array_like=True):
    """Bytes [offset, offset + length) of `segment` become `kept` (re-encoded records of
    other subjects, possibly empty) followed by a filler."""

    segment: str
    offset: int
    length: int
    kept: bytes


_JOURNAL = "erase.journal"
_journal_decoder = msgspec.msgpack.Decoder(list[_Overwrite])


def _overwrites(path: Path, dropped: set[Key]) -> list[_Overwrite]:
    """How to blank out, in place, the dropped events of `path` and their recognitions."""
    out: list[_Overwrite] = []
    for end, payload in _framed(path, 0):
        if payload[:1] == _FILLER:
            continue
        start = end - _FRAME.size - len(payload)
        record = _record_decoder.decode(payload)
        if isinstance(record, _EventRecord):
            if record.event.key in dropped:
                out.append(_Overwrite(path.name, start, end - start, b""))
            continue
        items = [i for i in record.items if (i.source, i.event_id) not in dropped]
        if len(items) == len(record.items):
            continue
        kept = _frame(_Recognitions(items)) if items else b""
        # Each dropped item is >= 20 encoded bytes, so the filler (>= 9) always fits.
        if end - start - len(kept) < _FRAME.size + 1:
            raise RuntimeError(f"{path}: no room for a filler at byte {start}")
        out.append(_Overwrite(path.name, start, end - start, kept))
    return out


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit_journal(directory: Path, overwrites: list[_Overwrite]) -> None:
    """Make the planned overwrites durable before any segment byte changes."""
    payload = _encoder.encode(overwrites)
    tmp = directory / (_JOURNAL + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, _FRAME.pack(len(payload), zlib.crc32(payload)) + payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(directory / _JOURNAL)
    _fsync_dir(directory)


def _apply_journal(directory: Path, overwrites: list[_Overwrite]) -> None:
    """Overwrite (idempotently), sync every touched segment, then drop the journal."""
    by_segment: dict[str, list[_Overwrite]] = {}
    for o in overwrites:
        by_segment.setdefault(o.segment, []).append(o)
    for name, items in by_segment.items():
        path = directory / name
        if not path.exists():  # deleted as all-filler after an earlier, complete apply
            continue
        fd = os.open(path, os.O_WRONLY)
        try:
            for o in items:
                os.pwrite(fd, o.kept + _filler(o.length - len(o.kept)), o.offset)
            os.fdatasync(fd)
        finally:
            os.close(fd)
    (directory / _JOURNAL).unlink(missing_ok=True)
    _fsync_dir(directory)


def _read_journal(directory: Path) -> list[_Overwrite] | None:
    """The committed journal, or None (only ever renamed into place whole and synced)."""
    try:
        data = (directory / _JOURNAL).read_bytes()
    except FileNotFoundError:
        return None
    length, crc = _FRAME.unpack_from(data, 0)
    payload = data[_FRAME.size : _FRAME.size + length]
    if len(payload) != length or zlib.crc32(payload) != crc:
        raise ParseError("erase journal is damaged", source=str(directory / _JOURNAL), line_no=1)
    return _journal_decoder.decode(payload)


@contextlib.contextmanager
def _rewrite_lock(directory: Path, *, wait: bool, shared: bool = False) -> Iterator[bool]:
    """One eraser per directory (across processes), exclusive of copying readers (shared);
    yields False when busy and not waiting."""
    fd = os.open(directory / "rewrite.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode if wait else mode | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


@contextlib.contextmanager
def copying(directory: Path) -> Iterator[None]:
    """Held by a reader that copies records elsewhere (the bus forwarder) from reading a
    segment until its copies are out. An erasure waits for it and it for an erasure, so a
    copy made from the unerased log is already there when the erasure's later steps (the
    bus's copies) run."""
    with _rewrite_lock(directory, wait=True, shared=True):
        yield


def finish_interrupted_erasure(directory: Path) -> bool:
    """Apply an erasure a crash left committed but unapplied; True when there was one.
    If another process is erasing right now, that process finishes it."""
    if not (directory / _JOURNAL).exists():
        return False
    with _rewrite_lock(directory, wait=False) as locked:
        if not locked:
            return False
        overwrites = _read_journal(directory)
        if overwrites is None:
            return False
        _apply_journal(directory, overwrites)
        return True


def _remove_spent_segments(directory: Path) -> None:
    """Delete segments holding fillers only, except each writer slot's latest (a writer
    may still append there, and a deleted latest name would be reused)."""
    latest: dict[int, Path] = {}
    for path in _segments(directory):
        m = _SEGMENT.match(path.name)
        assert m is not None  # _segments only lists matching names
        latest[int(m.group(1))] = path
    for path in _segments(directory):
        if path in latest.values() or any(True for _ in _payloads(path)):
            continue
        path.unlink()
    _fsync_dir(directory)


class _Writer:
    """One writer slot of a directory: owns the lock, the open segment and the sync state.

    Used from one event loop thread at a time: dedupe and `write` happen there, in order;
    fdatasync in a worker thread (fsync=always: one at a time, each covering every write
    before it; fsync=interval: in the background).
    """

    def __init__(
        self,
        directory: Path,
        fsync: FsyncPolicy,
        fsync_interval_s: float,
        segment_bytes: int,
        dedupe_window_s: float,
        linger_s: float = 0.0,
    ) -> None:
        self._dir = directory
        self._fsync = fsync
        self._interval_s = fsync_interval_s
        self._linger_s = linger_s if fsync == "always" else 0.0
        self._last_flush_s = -1.0
        self._buffered = 0  # bytes in _buffer
        self._segment_bytes = segment_bytes
        self._slot, self._lock_fd = self._take_slot()
        # Dedupe keys (readers deduplicate too, so an older retry is stored, never shown
        # twice); window 0: a writer of recognitions only, like the follower's, loads none.
        since_s = time.time() - dedupe_window_s
        self._seen = RecentKeys(
            dedupe_window_s, _stored_keys(directory, since_s) if dedupe_window_s else None
        )
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
        self._open_next_segment()
        self._buffer: list[bytes] = []  # frames accepted in this loop iteration
        self._recognised: list[_Recognised] = []  # recognitions to write as one record
        self._flush_handle: asyncio.Handle | None = None
        self._flushed = 0  # number of flushes (one `write` each) done so far
        self._synced = 0  # every flush up to this number is on disk
        self._syncing = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._failure: Unavailable | None = None
        self._timer: asyncio.TimerHandle | None = None

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
        self.path = path
        self._size = 0
        if self._fsync != "never":
            # The new file's directory entry must be durable too, or the segment can vanish.
            dir_fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def write(self, frames: list[tuple[Key, bytes]]) -> tuple[list[bool], int]:
        """Queue the event frames whose key is new for this iteration's single `write`;
        returns the flags and the flush number to await before acknowledging."""
        if self._failure is not None:
            raise self._failure
        seen = self._seen
        seen.expire()
        flags: list[bool] = []
        batch: set[Key] = set()
        kept: list[bytes] = []
        for key, frame in frames:
            if key in seen or key in batch:
                flags.append(False)
                continue
            batch.add(key)
            kept.append(frame)
            flags.append(True)
        seen.add_all(batch)
        self._queue(kept)
        # A retried event may still be waiting for its first flush or sync: wait for those.
        return flags, self._flushed + (1 if self._buffer else 0)

    def write_again(self, frames: list[bytes]) -> int:
        """Queue frames of events stored before, without the retry check (`hand_over`);
        returns the flush number to await."""
        if self._failure is not None:
            raise self._failure
        self._queue(frames)
        return self._flushed + 1

    def _queue(self, frames: list[bytes]) -> None:
        """Add frames to this iteration's single `write`."""
        if frames:
            self._buffer += frames
            self._buffered += sum(map(len, frames))
            self._schedule_flush()

    def recognised(self, items: list[_Recognised]) -> int:
        """Queue recognitions; each flush writes those of its iteration as one record.
        Returns the flush number to await for them to be durable (the collector does not
        wait: a recognition can be recomputed from its event, already durable)."""
        if self._failure is not None:
            raise self._failure
        self._recognised += items
        self._schedule_flush()
        return self._flushed + 1

    @property
    def written(self) -> tuple[Path, int]:
        """The segment being appended to and its size so far."""
        return self.path, self._size

    def _schedule_flush(self) -> None:
        handle = self._flush_handle
        if handle is None:
            loop = asyncio.get_running_loop()
            if (
                self._linger_s
                and self._buffered < _FLUSH_NOW_BYTES
                and time.monotonic() - self._last_flush_s < _BUSY_S
            ):
                # Requests are streaming in: wait a little for more to share the fdatasync.
                self._flush_handle = loop.call_later(self._linger_s, self._flush)
            else:
                # After every request handled in this loop iteration: one syscall for all.
                self._flush_handle = loop.call_soon(self._flush)
        elif self._buffered >= _FLUSH_NOW_BYTES and isinstance(handle, asyncio.TimerHandle):
            handle.cancel()
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    async def durable(self, upto: int) -> None:
        """Return once flush number `upto` is written (and, with fsync=always, on disk);
        concurrent callers share one write and one fdatasync (group commit)."""
        if upto <= self._durable_mark():
            return
        if self._failure is not None:
            raise self._failure
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((upto, future))
        await future

    def _durable_mark(self) -> int:
        return self._synced if self._fsync == "always" else self._flushed

    def _flush(self) -> None:
        self._flush_handle = None
        self._last_flush_s = time.monotonic()
        self._buffered = 0
        if self._recognised:
            self._buffer.append(_frame(_Recognitions(self._recognised)))
            self._recognised = []
        if not self._buffer:
            return
        data = b"".join(self._buffer)
        self._buffer = []
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as err:
            # A failed write leaves the segment in an unknown state: refuse further appends
            # (clients get 503 and retry) rather than acknowledge a partial write.
            self._fail(f"write failed: {err}")
            return
        self._flushed += 1
        self._size += len(data)
        if self._size >= self._segment_bytes:
            self.rotate()
        if self._fsync == "always":
            self._start_sync()
        elif self._fsync == "interval":
            self._sync_within_interval()
        self._wake()

    def rotate(self) -> None:
        """Close the current segment (synced) and start the next one."""
        if self._buffer or self._recognised:  # only on the loop thread, where they queue
            self._flush()
        os.fdatasync(self._fd)
        os.close(self._fd)
        self._open_next_segment()
        self._synced = self._flushed
        self._wake()

    @property
    def slot(self) -> int:
        return self._slot

    def _fail(self, why: str) -> None:
        self._failure = Unavailable(f"event log {self._dir}: {why}")
        waiters, self._waiters = self._waiters, []
        for _, future in waiters:
            if not future.done():
                future.set_exception(self._failure)

    def _wake(self) -> None:
        mark = self._durable_mark()
        remaining = []
        for upto, future in self._waiters:
            if upto > mark:
                remaining.append((upto, future))
            elif not future.done():
                future.set_result(None)
        self._waiters = remaining

    def _start_sync(self) -> None:
        """fdatasync in a worker thread, off the loop; a sync already running is followed
        by the next one when it ends (`_synced_to`)."""
        if self._syncing or self._flushed <= self._synced or self._failure is not None:
            return
        self._syncing = True
        target = self._flushed
        # A duplicate descriptor: the segment may rotate (and its fd close) meanwhile.
        task = asyncio.get_running_loop().run_in_executor(None, _sync_and_close, os.dup(self._fd))
        task.add_done_callback(lambda done: self._synced_to(target, done))

    def _synced_to(self, target: int, done: asyncio.Future[None]) -> None:
        self._syncing = False
        err = done.exception()
        if err is not None:
            self._fail(f"fdatasync failed: {err}")
            return
        self._synced = max(self._synced, target)
        self._wake()
        if self._fsync == "always" and self._flushed > self._synced:
            self._start_sync()  # flushes that came in meanwhile: the next group

    def _sync_within_interval(self) -> None:
        if self._timer is not None:
            return

        def sync() -> None:
            self._timer = None
            self._start_sync()

        self._timer = asyncio.get_running_loop().call_later(self._interval_s, sync)

    def close(self) -> None:
        for handle in (self._timer, self._flush_handle):
            if handle is not None:
                handle.cancel()
        if self._recognised:  # every append waited for its flush; recognitions need not
            self._buffer.append(_frame(_Recognitions(self._recognised)))
            self._recognised = []
        if self._buffer:
            os.write(self._fd, b"".join(self._buffer))
            self._buffer = []
        if self._fsync != "never":
            os.fdatasync(self._fd)
            # a sync still running in its thread must not start another on a closed fd
            self._synced = self._flushed
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
        dedupe_window_s: float = 3600,
        linger_ms: float = 0.0,
    ) -> None:
        self._dir = directory
        self._fsync: FsyncPolicy = fsync
        self._interval_s = fsync_interval_ms / 1000
        self._linger_s = linger_ms / 1000
        self._segment_bytes = segment_bytes
        self._dedupe_window_s = dedupe_window_s
        self._writer: _Writer | None = None
        self._open_lock = threading.Lock()

    def _get_writer(self) -> _Writer:
        # Opened on first append, so read-only users (the CLI) never take a writer slot.
        if self._writer is None:
            with self._open_lock:
                if self._writer is None:
                    self._dir.mkdir(parents=True, exist_ok=True)
                    finish_interrupted_erasure(self._dir)
                    self._writer = _Writer(
                        self._dir,
                        self._fsync,
                        self._interval_s,
                        self._segment_bytes,
                        self._dedupe_window_s,
                        self._linger_s,
                    )
        return self._writer

    async def append(self, events: Sequence[Event], *, inline: bool = False) -> list[bool]:
        if not events:
            return []
        frames = _event_frames(events, inline)
        writer = self._get_writer()
        flags, upto = writer.write(frames)
        await writer.durable(upto)
        return flags

    async def hand_over(self, events: Sequence[Event]) -> None:
        if not events:
            return
        writer = self._get_writer()
        await writer.durable(writer.write_again([frame for _, frame in _event_frames(events)]))

    async def record_recognitions(self, recognised: Sequence[tuple[Event, Recognition]]) -> None:
        if recognised:
            self.queue_recognitions(recognised)

    def queue_recognitions(self, recognised: Sequence[tuple[EventHead, Recognition]]) -> int:
        """Record recognitions without waiting: the number to pass to `durable` (the
        recognition follower recognises its next group while this one syncs)."""
        # A Source is a str: encoded as its value, like the key's source.
        items = [_Recognised(e.source, e.event_id, r) for e, r in recognised]
        return self._get_writer().recognised(items)

    async def durable(self, upto: int) -> tuple[Path, int]:
        """Return once what `queue_recognitions` numbered `upto` is durable (fsync policy),
        with the segment written to and its size (the follower's own checkpoint)."""
        writer = self._get_writer()
        await writer.durable(upto)
        return writer.written

    def read(self) -> Iterator[StoredEvent]:
        events: dict[Key, Event] = {}
        recognitions: dict[Key, Recognition] = {}
        if self._dir.is_dir():
            finish_interrupted_erasure(self._dir)
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
                        for item in record.items:
                            recognitions[(item.source, item.event_id)] = item.recognition
        ordered = sorted(events.values(), key=lambda e: e.received_ms)
        for event in ordered:
            yield StoredEvent(event, recognitions.get(event.key))

    def segments(self) -> list[Path]:
        """The segment files, in the order `read_segment` should visit them."""
        if not self._dir.is_dir():
            return []
        finish_interrupted_erasure(self._dir)
        return _segments(self._dir)

    def read_segment(self, segment: Path, offset: int = 0) -> Iterator[SegmentEntry]:
        """The intact records of `segment` after byte `offset` (a previous entry's `end`),
        in write order; stops at a torn or still-being-written tail. A recognition comes
        after its event, possibly in a later entry."""
        for n, (end, payload) in enumerate(_framed(segment, offset), start=1):
            if payload[:1] == _FILLER:
                yield SegmentEntry(segment, end)
                continue
            try:
                record = _record_decoder.decode(payload)
            except msgspec.DecodeError as err:
                raise ParseError(f"{err} (byte {end})", source=str(segment), line_no=n) from err
            if isinstance(record, _EventRecord):
                yield SegmentEntry(segment, end, event=record.event)
            else:
                items = tuple(((i.source, i.event_id), i.recognition) for i in record.items)
                yield SegmentEntry(segment, end, recognitions=items)

    def follow(
        self, segment: Path, offset: int, limit: int, *, events_too: bool = True
    ) -> Followed:
        """Up to `limit` events of `segment` after byte `offset`, for the recognition
        follower: like `read_segment`, with the event decoded straight from its fixed-prefix
        frame and recognitions reduced to their keys (a third of the CPU per event).
        `events_too=False`: only the recognitions' keys, to the segment's end. A record
        that does not decode is skipped and its end offset listed in `damaged`: one bad
        record must not stop recognition of everything after it. Events stored `inline`
        (their worker recognises them) are passed over."""
        events: list[EventHead] = []
        recognised: list[Key] = []
        damaged: list[int] = []
        end, skip = offset, len(_EVENT_PREFIX)
        for end, payload in _framed(segment, offset):
            try:
                if payload.startswith(_EVENT_PREFIX):
                    if not events_too:
                        continue
                    events.append(_head_decoder.decode(memoryview(payload)[skip:]))
                    if len(events) >= limit:
                        break
                elif payload.startswith(_INLINE_PREFIX):
                    continue  # its worker recognises it
                elif payload[:1] != _FILLER:
                    items = _recognised_keys_decoder.decode(payload).items
                    recognised += [(source, event_id) for source, event_id, _ in items]
            except msgspec.DecodeError:
                damaged.append(end)
        return Followed(events, recognised, end, damaged)

    def purge_before(self, cutoff_ms: int) -> int:
        return self._rewrite(lambda e: e.received_ms < cutoff_ms)

    def erase(self, matches: Callable[[Event], bool]) -> int:
        return self._rewrite(matches)

    def _rewrite(self, drop: Callable[[Event], bool]) -> int:
        """Blank out, in place, every stored copy of the events `drop` selects and their
        recognitions (see the module docstring); writers in any process may keep
        appending. Returns how many distinct events were dropped."""
        if not self._dir.is_dir():
            return 0
        with _rewrite_lock(self._dir, wait=True):
            leftover = _read_journal(self._dir)
            if leftover is not None:
                _apply_journal(self._dir, leftover)
            segments = _segments(self._dir)
            dropped: set[Key] = set()
            for path in segments:
                for payload in _payloads(path):
                    record = _record_decoder.decode(payload)
                    if isinstance(record, _EventRecord) and drop(record.event):
                        dropped.add(record.event.key)
            if not dropped:
                return 0
            overwrites = [o for path in segments for o in _overwrites(path, dropped)]
            _commit_journal(self._dir, overwrites)
            _apply_journal(self._dir, overwrites)
            _remove_spent_segments(self._dir)
            return len(dropped)

    def close(self) -> None:
        with self._open_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
