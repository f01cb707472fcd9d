"""Drains the collector's durable segment log to an EventBus, at least once.

The segment log stays the acknowledgement point: the collector answers 2xx once an event is
on local disk, whatever the broker is doing. The forwarder tails every segment from a
checkpoint (byte offset per segment file, `forwarded.json` beside the segments), publishes
each event with its recognition keyed by line pseudonym (visitor pseudonym when
unrecognised), and moves the checkpoint only after the bus acknowledged — so a crash or an
unreachable broker means re-sending, never losing; consumers deduplicate by event key.

The recognition is written just after its event; an event whose recognition is not in the
log yet is held for up to `recognition_wait_ms` (then sent unrecognised) so its key is
right.

Byte offsets stay valid when a segment is erased from or purged: the log blanks records in
place (same length) rather than moving them, and a segment it deletes is never written
again. One forwarder per data directory: `run` holds `forwarder.lock` (flock) while it
forwards, so `netcx serve` (with any number of workers) and `netcx bus forward` never both
send; a second one waits and takes over when the first stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from netcx.adapters.storage.eventlog_segments import (
    Checkpoint,
    SegmentEventLog,
    copying,
    unread_bytes,
    wait_for_role,
)
from netcx.domain.events import Event, Recognition, StoredEvent
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.errors import Unavailable
from netcx.ports import EventBus

log = logging.getLogger("netcx.bus.forwarder")

CHECKPOINT = "forwarded.json"
LOCK = "forwarder.lock"


def try_lock(directory: Path) -> int | None:
    """The forwarder lock of `directory` (a descriptor to close to release it), or None
    while another process holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def partition_key(event: Event, recognition: Recognition | None, p: Pseudonymizer) -> str:
    """Line pseudonym when recognised to a line; else the visitor pseudonym; else the event."""
    ids = recognition.ids if recognition is not None else {}
    if "line" in ids:
        return ids["line"]
    if "visitor" in ids:
        return ids["visitor"]
    if event.visitor_id:
        return p.pseudonym(IdKind.VISITOR, event.visitor_id)
    return f"{event.source.value}:{event.event_id}"


def unforwarded_bytes(directory: Path) -> int:
    """Bytes of the local log past the forwarder's checkpoint (0: the bus has everything)."""
    return unread_bytes(directory, CHECKPOINT)


class SegmentForwarder:
    def __init__(
        self,
        directory: Path,
        bus: EventBus,
        pseudonymizer: Pseudonymizer,
        *,
        batch_size: int = 500,
        recognition_wait_ms: int = 2000,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dir = directory
        self._log = SegmentEventLog(directory)  # read only: never takes a writer slot
        self._bus = bus
        self._p = pseudonymizer
        self._batch = batch_size
        self._wait_s = recognition_wait_ms / 1000
        self._clock_s = clock_s
        self._checkpoint = Checkpoint(directory / CHECKPOINT)
        self._lock_fd: int | None = None
        self._held_since: dict[tuple[str, int], float] = {}
        self.forwarded = 0

    def take_lock(self) -> bool:
        """Become the data directory's forwarder (False: another one is); the checkpoint
        is re-read, since the previous forwarder may have moved it."""
        if self._lock_fd is None:
            self._lock_fd = try_lock(self._dir)
            if self._lock_fd is not None:
                self._checkpoint.reload()
        return self._lock_fd is not None

    def release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _ready(self, segment: Path) -> tuple[list[tuple[int, str, StoredEvent]], int]:
        """Events of `segment` ready to send, each with the offset just after it, and the
        offset up to which everything read is handled (held events stop the scan)."""
        name = segment.name
        start = self._checkpoint.offsets.get(name, 0)
        entries = list(self._log.read_segment(segment, start))
        recognitions = {key: r for e in entries for key, r in e.recognitions}
        now = self._clock_s()
        for e in entries:  # the wait runs from when the forwarder first saw the event
            if e.event is not None and e.event.key not in recognitions:
                self._held_since.setdefault((name, e.end), now)
        out: list[tuple[int, str, StoredEvent]] = []
        offset = start
        for e in entries:
            if e.event is not None:
                event = e.event
                recognition = recognitions.get(event.key)
                if recognition is None and now - self._held_since[(name, e.end)] < self._wait_s:
                    break
                self._held_since.pop((name, e.end), None)
                stored = StoredEvent(event, recognition)
                out.append((e.end, partition_key(event, recognition, self._p), stored))
            offset = e.end
        return out, offset

    async def drain_once(self) -> int:
        """Send everything ready now, `batch_size` events per publish; return how many.

        Raises Unavailable when the bus does not take them (the checkpoint stays put)."""
        sent = 0
        if not self._dir.is_dir():
            return 0
        segments = self._log.segments()
        self._checkpoint.keep_only(segments)
        for segment in segments:
            with copying(self._dir):
                sent += await self._forward(segment)
        self.forwarded += sent
        return sent

    async def _forward(self, segment: Path) -> int:
        """Publish what is ready in `segment`; move its checkpoint."""
        sent = 0
        ready, offset = self._ready(segment)
        for i in range(0, len(ready), self._batch):
            batch = ready[i : i + self._batch]
            await self._bus.publish([(key, item) for _, key, item in batch])
            last = i + self._batch >= len(ready)
            self._checkpoint.offsets[segment.name] = offset if last else batch[-1][0]
            self._checkpoint.save()
            sent += len(batch)
        if not ready and offset != self._checkpoint.offsets.get(segment.name, 0):
            self._checkpoint.offsets[segment.name] = offset  # only recognitions were new
            self._checkpoint.save()
        return sent

    async def close(self) -> None:
        self.release_lock()
        await self._bus.close()

    async def run(
        self, stop: asyncio.Event, poll_interval_s: float = 0.1, lock_retry_s: float = 1.0
    ) -> None:
        """Drain until `stop` is set; an unreachable bus is retried with bounded backoff.
        Waits (until `stop`) while another process is the directory's forwarder."""
        if not await wait_for_role(self.take_lock, stop, lock_retry_s, "forward", self._dir):
            return
        delay_s = poll_interval_s
        while not stop.is_set():
            try:
                sent = await self.drain_once()
                delay_s = poll_interval_s
            except Unavailable as err:
                log.warning("forward_unavailable retry_in_s=%.2f error=%s", delay_s, err)
                sent = 0
                delay_s = min(delay_s * 2, 5.0)
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay_s)
