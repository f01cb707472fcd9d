"""Recognition follower: recognises the collector's stored events once each, in groups, in
one process per data directory (`collect.recognition = "follower"`).

With it the collector's workers only store: the 2xx means "durable in the segment log", and
this single owner of the recognition stores tails every worker's segments from a checkpoint
(`recognised.json`, byte offset per segment), recognises what is new in groups of up to
`group_events` (consent gate, resolution, identity graph, audit, intent scoring — the same
`EventRecognizer.recognise_now` the inline path calls) and appends the answers to the log
as recognition records in a writer slot of its own. One writer to the embedded SQLite stores
instead of every worker: no lock waits, a warm page cache, groups of hundreds of visitors
instead of two or three (docs/collector.md, "Speed").

Once each: an event whose recognition record is in the log is never recognised again — on
start the follower reads the recognition records past its checkpoint and in the segments
written to within `dedupe_window_s`, so a checkpoint that lags (it is saved without fsync;
the records are the truth) replays nothing, and a retry that two workers both stored is
recognised once, even across a follower restart (keys seen within the window). A crash
between a group's store writes and its recognition record recognises that group again
(at most one group: its consent reports and graph edges are idempotent, its audit records
and intent observations are counted twice).

Erasure-safe like the forwarder: a segment is read and its events recognised under the
log's `copying` lock, so an erasure waits for a group in flight, and the group cannot
re-create what the erasure removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from netcx.adapters.storage.eventlog_segments import (
    Checkpoint,
    FsyncPolicy,
    RecentKeys,
    SegmentEventLog,
    copying,
    unread_bytes,
    wait_for_role,
)
from netcx.domain.events import EventHead, Recognition
from netcx.errors import Unavailable

log = logging.getLogger("netcx.collect.follower")

CHECKPOINT = "recognised.json"
LOCK = "follower.lock"

Recognise = Callable[[Sequence[EventHead]], list[Recognition]]
Key = tuple[str, str]


def unrecognised_bytes(directory: Path) -> int:
    """Bytes of the log the follower has not handled yet (0: every event is recognised)."""
    return unread_bytes(directory, CHECKPOINT)


def follower_running(directory: Path) -> bool:
    """Whether a process holds the directory's follower lock."""
    try:
        fd = os.open(directory / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's shared lock, if it got one
    return False


class FollowerPacing:
    """The collector's `Admission` in follower mode: a request waits while the follower is
    more than `max_lag_bytes` of log behind, so a sustained overload slows clients down
    (their 2xx comes later) instead of growing recognition delay without bound. The wait
    ends after `max_wait_s` whatever the lag (the event is accepted; a follower that is
    stuck must not stop collection), and never starts while no follower runs. The lag is
    read from the files at most every `check_s`, shared by every waiting request."""

    def __init__(
        self, directory: Path, max_lag_bytes: int, max_wait_s: float, check_s: float = 0.02
    ) -> None:
        self._dir = directory
        self._max = max_lag_bytes
        self._max_wait_s = max_wait_s
        self._check_s = check_s
        self._lag = 0
        self._checked_at = -1.0
        self._warned_at = -1.0

    def lag_bytes(self) -> int:
        now = time.monotonic()
        if now - self._checked_at >= self._check_s:
            self._checked_at = now
            self._lag = unrecognised_bytes(self._dir) if follower_running(self._dir) else 0
        return self._lag

    async def admit(self) -> float:
        if self.lag_bytes() <= self._max:
            return 0.0
        started = time.monotonic()
        while time.monotonic() - started < self._max_wait_s:
            await asyncio.sleep(self._check_s)
            if self.lag_bytes() <= self._max:
                return time.monotonic() - started
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            log.warning(
                "follower_behind lag_bytes=%d max_lag_bytes=%d accepting_after_s=%.1f",
                self._lag,
                self._max,
                self._max_wait_s,
            )
        return time.monotonic() - started


def _superseded(segments: Sequence[Path], n: int) -> bool:
    """Whether its writer slot has moved on from `segments[n]` (listed by slot, sequence)."""
    return n + 1 < len(segments) and (
        segments[n + 1].name.split("-")[0] == segments[n].name.split("-")[0]
    )


class RecognitionFollower:
    """Tails the segment log and recognises each new event once (module docstring)."""

    def __init__(
        self,
        directory: Path,
        recognise: Recognise,
        *,
        group_events: int = 500,
        fsync: FsyncPolicy = "always",
        dedupe_window_s: float = 3600,
        pipeline: int = 4,
    ) -> None:
        self._dir = directory
        self._recognise = recognise
        self._group = group_events
        self._pipeline = pipeline
        # Its writer holds the answers (and never events: no dedupe keys to load).
        self._log = SegmentEventLog(directory, fsync=fsync, dedupe_window_s=0)
        self._checkpoint = Checkpoint(directory / CHECKPOINT, sync=False)
        self._seen = RecentKeys(dedupe_window_s)
        self._dedupe_window_s = dedupe_window_s
        self._lock_fd: int | None = None
        self.recognised = 0
        self.levels: Counter[str] = Counter()
        self.damaged = 0  # records skipped: intact frame, undecodable payload

    # ------------------------------------------------------------ one per data directory

    def take_lock(self) -> bool:
        """Become the directory's follower (False: another process is). The checkpoint is
        re-read and the recognitions recorded past it, and in every segment written to
        within the dedupe window, are remembered, so nothing already answered is recognised
        again (not even a retry another worker stores after this restart)."""
        if self._lock_fd is not None:
            return True
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        self._checkpoint.reload()
        recent_s = time.time() - self._dedupe_window_s
        for segment in self._log.segments():
            offset = self._checkpoint.offsets.get(segment.name, 0)
            if segment.stat().st_mtime >= recent_s:
                offset = 0
            self._seen.add_all(self._log.follow(segment, offset, 0, events_too=False).recognised)
        return True

    def release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        self._log.close()
        self._checkpoint.close()
        self.release_lock()

    def lag_bytes(self) -> int:
        """Bytes of this follower's log not recognised yet."""
        return unrecognised_bytes(self._dir)

    # ------------------------------------------------------------ following

    async def drain_once(self) -> int:
        """Recognise the events stored so far and not yet answered, in groups of up to
        `group_events` across every writer's segments, at most `pipeline` groups; return
        how many. Each group's records sync while the next is recognised; all are durable
        and the checkpoint saved when this returns.

        Raises Unavailable when the recognition stores are (the checkpoint stays put)."""
        if not self._dir.is_dir():
            return 0
        segments = self._log.segments()
        self._checkpoint.keep_only(segments)
        offsets = dict(self._checkpoint.offsets)
        done, upto = 0, 0
        with copying(self._dir):
            try:
                for _ in range(self._pipeline):
                    group, taken = self._next_group(segments, offsets)
                    if not group:
                        break
                    answers = self._recognise_each_once(group)
                    upto = self._log.queue_recognitions(list(zip(group, answers, strict=True)))
                    self._seen.add_all(taken)
                    self.recognised += len(group)
                    self.levels.update(a.level.value for a in answers)
                    done += len(group)
                    if len(group) < self._group:
                        break
                    await asyncio.sleep(0)  # the flush writes, its sync starts
            finally:
                if upto:  # what was recognised is recorded and checkpointed, even on failure
                    written, size = await self._log.durable(upto)
                    offsets[written.name] = size  # our own records: nothing to follow there
        if offsets != self._checkpoint.offsets:
            self._checkpoint.offsets = offsets
            self._checkpoint.save()
        return done

    def _next_group(
        self, segments: Sequence[Path], offsets: dict[str, int]
    ) -> tuple[list[EventHead], set[Key]]:
        """The next group of events not answered yet, reading on from `offsets` (moved past
        what was read)."""
        group: list[EventHead] = []
        taken: set[Key] = set()
        for n, segment in enumerate(segments):
            start = offsets.get(segment.name, 0)
            # Events answered already (a lost checkpoint, retries) fill no group: read
            # on, so a drain that returns 0 means the log is handled to its end.
            while len(group) < self._group:
                limit = self._group - len(group)
                read = self._log.follow(segment, start, limit)
                self._seen.add_all(read.recognised)
                for end in read.damaged:
                    self.damaged += 1
                    log.warning("record_undecodable segment=%s end_byte=%d", segment.name, end)
                for event in read.events:  # a retry two workers both stored: once
                    key = event.key
                    if key not in self._seen and key not in taken:
                        taken.add(key)
                        group.append(event)
                if read.end != start:
                    offsets[segment.name] = start = read.end
                if len(read.events) < limit:  # read to the end of the segment
                    if _superseded(segments, n) and start < segment.stat().st_size:
                        # A torn tail a crashed writer left: nobody appends there again.
                        offsets[segment.name] = segment.stat().st_size
                    break
            if len(group) >= self._group:
                break
        return group, taken

    def _recognise_each_once(self, group: list[EventHead]) -> list[Recognition]:
        """The group's answers; if recognising it fails for a reason other than the stores
        being unavailable, each event is tried alone and one that still fails is answered
        `anonymous` (logged by key), so one bad event never stalls the follower."""
        try:
            return self._recognise(group)
        except Unavailable:
            raise
        except Exception:
            if len(group) == 1:
                log.exception(
                    "recognise_failed source=%s event_id=%s",
                    group[0].source.value,
                    group[0].event_id,
                )
                return [Recognition.anonymous("recognition_failed")]
            return [a for event in group for a in self._recognise_each_once([event])]

    async def run(
        self,
        stop: asyncio.Event,
        poll_interval_s: float = 0.005,
        idle_interval_s: float = 0.1,
        lock_retry_s: float = 1.0,
    ) -> None:
        """Follow until `stop` is set: poll every `poll_interval_s` while events arrive (at
        once while a backlog lasts), backing off to `idle_interval_s` when none do;
        unavailable stores are retried with bounded backoff. Waits (until `stop`) while
        another process is the follower."""
        if not await wait_for_role(self.take_lock, stop, lock_retry_s, "follow", self._dir):
            return
        delay_s = poll_interval_s
        while not stop.is_set():
            try:
                done = await self.drain_once()
            except Unavailable as err:
                delay_s = min(max(delay_s * 2, 0.1), 5.0)
                log.warning("recognise_unavailable retry_in_s=%.2f error=%s", delay_s, err)
            else:
                if done >= self._group:  # a backlog: the next group is waiting already
                    await asyncio.sleep(0)
                    continue
                # Waiting a poll interval after a partial group lets the next one fill
                # (a group's fixed costs shared by more events) at a few ms of delay.
                delay_s = poll_interval_s if done else min(delay_s * 2, idle_interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay_s)
