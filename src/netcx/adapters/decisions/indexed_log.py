"""What a DecisionLog on a shared store does beside its SQL: serve reads from an in-memory index,
queue appends for a background writer, and index what other processes committed.

A subclass (SQLite, PostgreSQL) holds only its store's IO: `_write` a batch, `_catch_up` the
rows others committed (through `_index_new` / `_reindex`), `_all_records`, `_delete`,
`_sync_round` (one background round) and `_close_store`.
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence

import msgspec

from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.adapters.exit import close_at_exit
from netcx.domain.decisions.context import Contact
from netcx.domain.decisions.engine import Decision

log = logging.getLogger("netcx.decisions")

# (seq, the Decision as JSON) in commit order
Records = list[tuple[int, str]]


class IndexedDecisionLog(ABC):
    # What `_write` raises when the store is unreachable: the batch stays queued, in order.
    _write_errors: tuple[type[Exception], ...]

    def __init__(self, sync_interval_s: float, thread_name: str) -> None:
        self._writer_id = os.urandom(8).hex()  # catch-up skips this process's own rows
        self._index = MemoryDecisionLog()
        self._decode = msgspec.json.Decoder(Decision).decode
        self._read_lock = threading.Lock()
        self._seen_seq = 0
        self._seen_erasure = 0
        self._lock = threading.Lock()
        self._queue: list[Decision] = []
        self._flush_lock = threading.Lock()
        self._catch_up()
        self._stop = threading.Event()
        self._closed = False
        self._interval_s = sync_interval_s
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()
        close_at_exit(self.close)

    def append(self, decision: Decision) -> None:
        self._index.append(decision)
        with self._lock:
            self._queue.append(decision)

    def get(self, decision_id: str) -> Decision | None:
        found = self._index.get(decision_id)
        if found is None:
            self._catch_up()
            found = self._index.get(decision_id)
        return found

    def contacts(self, account_id: str, since_ms: int) -> list[Contact]:
        self._catch_up_for_contacts()
        return self._index.contacts(account_id, since_ms)

    def exposure_units(self) -> dict[tuple[str, str], int]:
        self._catch_up()
        return self._index.exposure_units()

    def pending(self) -> int:
        """Decisions appended but not yet committed to the store."""
        with self._lock:
            return len(self._queue)

    def decisions_where(self, selected: Callable[[Decision], bool]) -> list[Decision]:
        """Every process's decisions that `selected` picks (a full scan: for erasure)."""
        self.flush()
        found = (self._decode(record) for _, record in self._all_records())
        return [d for d in found if selected(d)]

    def erase_decisions(self, decision_ids: Sequence[str]) -> int:
        """Delete decisions (their contacts and exposure units go with them); other
        processes rebuild their index when they next see the erasure."""
        self.flush()
        ids = list(decision_ids)
        erased = self._delete(ids)
        self._index.erase_decisions(ids)
        return erased

    def flush(self) -> None:
        """Commit everything appended so far to the store."""
        with self._flush_lock:
            with self._lock:
                batch, self._queue = self._queue, []
            if not batch:
                return
            try:
                self._write(batch)
            except self._write_errors:
                with self._lock:  # keep the batch for the next attempt, in order
                    self._queue[:0] = batch
                raise

    def _index_new(self, records: Iterable[str]) -> None:
        """Index decisions other processes committed (one already indexed is skipped)."""
        for record in records:
            d = self._decode(record)
            if self._index.get(d.decision_id) is None:
                self._index.append(d)

    def _reindex(self, erasure: int, read_all: Callable[[], Records]) -> None:
        """Rebuild the index from the store, plus our decisions not written yet (the queue
        is read first: one written meanwhile is then in both, and kept once)."""
        with self._lock:
            queued = list(self._queue)
        rows = read_all()
        decisions = {d.decision_id: d for d in (self._decode(r) for _, r in rows)}
        for d in queued:
            decisions.setdefault(d.decision_id, d)
        self._index.reset(list(decisions.values()))
        self._seen_seq = int(rows[-1][0]) if rows else 0
        self._seen_erasure = erasure

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._sync_round()
            except self._write_errors:  # the batch stays queued; the next round retries
                log.exception(
                    "decision log sync failed; decisions stay queued pending=%d", self.pending()
                )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join()  # a round ends within the store's timeout / retry budget
        try:
            self.flush()
        finally:
            self._close_store()

    @abstractmethod
    def _write(self, batch: list[Decision]) -> None:
        """Insert `batch` in one transaction; a decision already there lands once."""

    @abstractmethod
    def _catch_up(self) -> None:
        """Index the rows other processes committed since the last look (ours are indexed
        at append)."""

    @abstractmethod
    def _catch_up_for_contacts(self) -> None:
        """What `contacts` (on the decide path) does before answering from the index."""

    @abstractmethod
    def _all_records(self) -> Records:
        """Every committed decision."""

    @abstractmethod
    def _delete(self, decision_ids: list[str]) -> int:
        """Delete the decisions and record an erasure for other processes; how many went."""

    @abstractmethod
    def _sync_round(self) -> None:
        """One background round: write the queue (and catch up, where that is not on reads)."""

    @abstractmethod
    def _close_store(self) -> None:
        """Release the store's connections."""
