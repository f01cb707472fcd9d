"""Append-only, fsync'd JSON-lines journal of normalised network records (one file per day).

The RADIUS listener and `netcx ingest` write here; every process that resolves (HTTP
workers, the CLI) replays the journal into its in-memory binding index and then follows
it by byte offset, so a record acknowledged to a NAS is visible to every reader.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import msgspec

from netcx.domain.network.records import AccountingRecord, BlockEvent

ACCOUNTING = "accounting"
BLOCKS = "blocks"
_TYPES: dict[str, type[AccountingRecord] | type[BlockEvent]] = {
    ACCOUNTING: AccountingRecord,
    BLOCKS: BlockEvent,
}


def _day(ms: int) -> str:
    return _day_name(ms // 86_400_000)


@functools.lru_cache(maxsize=64)
def _day_name(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y%m%d")


class FileJournal:
    """`append` returns only once the records are on disk (fsync unless `fsync=False`)."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self._lock = threading.Lock()
        self._handles: dict[tuple[str, str], IO[bytes]] = {}
        self._offsets: dict[Path, int] = {}
        self._enc = msgspec.json.Encoder()
        self._dec = {k: msgspec.json.Decoder(t) for k, t in _TYPES.items()}

    # ------------------------------------------------------------ writing

    def append_accounting(self, records: Sequence[AccountingRecord]) -> None:
        self._append(ACCOUNTING, [(r.event_ms, r) for r in records])

    def append_blocks(self, events: Sequence[BlockEvent]) -> None:
        self._append(BLOCKS, [(e.at_ms, e) for e in events])

    def _append(self, stream: str, items: Iterable[tuple[int, msgspec.Struct]]) -> None:
        by_day: dict[str, list[msgspec.Struct]] = {}
        for ms, item in items:
            by_day.setdefault(_day(ms), []).append(item)
        with self._lock:
            for day, group in by_day.items():
                buf = self._enc.encode_lines(group)
                fh = self._handles.get((stream, day))
                if fh is None:
                    (self.root / stream).mkdir(parents=True, exist_ok=True)
                    fh = (self.root / stream / f"{day}.jsonl").open("ab")
                    self._handles[(stream, day)] = fh
                fh.write(buf)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())

    def close(self) -> None:
        with self._lock:
            for fh in self._handles.values():
                fh.close()
            self._handles.clear()

    # ------------------------------------------------------------ following

    def read_new_accounting(self) -> list[AccountingRecord]:
        return self._read_new(ACCOUNTING)  # type: ignore[return-value]

    def read_new_blocks(self) -> list[BlockEvent]:
        return self._read_new(BLOCKS)  # type: ignore[return-value]

    def _read_new(self, stream: str) -> list[AccountingRecord | BlockEvent]:
        out: list[AccountingRecord | BlockEvent] = []
        dec = self._dec[stream]
        for path in sorted((self.root / stream).glob("*.jsonl")):
            offset = self._offsets.get(path, 0)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if size <= offset:
                continue
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read(size - offset)
            end = chunk.rfind(b"\n") + 1  # only whole lines: a writer may be mid-append
            out.extend(dec.decode(line) for line in chunk[:end].splitlines() if line)
            self._offsets[path] = offset + end
        return out

    def recent_accounting(
        self, limit: int, *, bytes_per_record: int = 512
    ) -> list[AccountingRecord]:
        """Up to `limit` of the last accounting records written, newest files (by mtime)
        first; reads only file tails, so a long journal costs no more than a short one."""
        out: list[AccountingRecord] = []
        dec = self._dec[ACCOUNTING]
        paths = sorted(
            (self.root / ACCOUNTING).glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for path in paths:
            want = limit - len(out)
            if want <= 0:
                break
            with path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                start = max(0, size - want * bytes_per_record)
                fh.seek(start)
                chunk = fh.read(size - start)
            if start > 0:  # the first line may be cut
                chunk = chunk[chunk.find(b"\n") + 1 :]
            chunk = chunk[: chunk.rfind(b"\n") + 1]  # a writer may be mid-append
            lines = [line for line in chunk.splitlines() if line][-want:]
            out.extend(dec.decode(line) for line in lines)  # type: ignore[misc]
        return out

    # ------------------------------------------------------------ retention

    def purge_before(self, cutoff_ms: int) -> int:
        """Delete day files wholly older than the cutoff day; returns files removed."""
        cutoff = _day(cutoff_ms)
        removed = 0
        with self._lock:
            for stream in _TYPES:
                for path in (self.root / stream).glob("*.jsonl"):
                    if path.stem < cutoff:
                        fh = self._handles.pop((stream, path.stem), None)
                        if fh is not None:
                            fh.close()
                        path.unlink()
                        self._offsets.pop(path, None)
                        removed += 1
        return removed
