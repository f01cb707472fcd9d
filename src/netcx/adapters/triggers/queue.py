"""QueuedTriggerSink: delivery from a background thread, with exponential-backoff retries
and a dead-letter store, so a slow or unreachable destination never blocks a decision."""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable

import msgspec

from netcx.adapters.exit import close_at_exit
from netcx.domain.decisions.triggers import Trigger
from netcx.ports import DeadLetterStore, TriggerTransport

log = logging.getLogger("netcx.triggers")


class PermanentDeliveryError(Exception):
    """The destination refused the trigger for good (e.g. HTTP 400): do not retry."""


def backoff_s(attempt: int, initial_s: float, max_s: float) -> float:
    """Delay before retry number `attempt` (1-based): initial · 2^(attempt-1), capped."""
    return float(min(max_s, initial_s * 2 ** (attempt - 1)))


class QueuedTriggerSink:
    """TriggerSink over any TriggerTransport."""

    def __init__(
        self,
        transport: TriggerTransport,
        dead_letters: DeadLetterStore,
        *,
        name: str,
        max_attempts: int = 5,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        queue_size: int = 10_000,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        dead_letter_on_close: bool = True,
    ) -> None:
        """`dead_letter_on_close=False`: what is undelivered at `close` is dropped, for a
        caller that gets it again (a bus worker that has not committed it)."""
        self.name = name
        self._dead_letter_on_close = dead_letter_on_close
        self._transport = transport
        self._dead = dead_letters
        self._max_attempts = max_attempts
        self._initial_s = backoff_initial_s
        self._max_s = backoff_max_s
        self._clock_ms = clock_ms
        self._inbox: queue.Queue[tuple[Trigger, bytes]] = queue.Queue(maxsize=queue_size)
        self._pending = 0
        self._idle = threading.Condition()
        self._stop = threading.Event()
        self.delivered = 0
        self.dead_lettered = 0
        self.retried = 0
        self._worker = threading.Thread(target=self._run, name=f"triggers-{name}", daemon=True)
        self._worker.start()
        close_at_exit(self.close)

    def submit(self, trigger: Trigger) -> None:
        """Enqueue and return at once; a full queue dead-letters instead of waiting."""
        body = msgspec.json.encode(trigger)
        with self._idle:
            self._pending += 1
        try:
            self._inbox.put_nowait((trigger, body))
        except queue.Full:
            self._give_up(trigger, body, "queue_full")

    def flush(self, timeout_s: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout_s)

    def close(self) -> None:
        """Stop delivering; whatever is still queued goes to the dead-letter store (replay)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._worker.join(timeout=10)
        self._transport.close()

    def _give_up(self, trigger: Trigger, body: bytes, error: str, *, quiet: bool = False) -> None:
        if not quiet:
            log.warning(
                "trigger dead-lettered sink=%s trigger_id=%s error=%s",
                self.name,
                trigger.trigger_id,
                error,
            )
        self._dead.put(body, trigger.trigger_id, error, self._clock_ms())
        self.dead_lettered += 1
        self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _run(self) -> None:
        # Retries wait in a heap ordered by due time, so one failing trigger does not hold
        # back the ones behind it.
        waiting: list[tuple[float, int, int, Trigger, bytes]] = []
        seq = itertools.count()
        try:
            self._deliver_until_stopped(waiting, seq)
        finally:
            left = self._drain()
            left += [(trigger, body) for *_, trigger, body in waiting]
            if left and not self._dead_letter_on_close:
                log.warning(
                    "stopping with undelivered triggers sink=%s left=%d (redelivered)",
                    self.name,
                    len(left),
                )
                left = []
            for trigger, body in left:
                self._give_up(trigger, body, "shutdown before delivery", quiet=True)
            if left:
                log.warning(
                    "stopping with undelivered triggers sink=%s dead_lettered=%d "
                    "(netcx triggers replay)",
                    self.name,
                    len(left),
                )

    def _drain(self) -> list[tuple[Trigger, bytes]]:
        out = []
        while True:
            try:
                out.append(self._inbox.get_nowait())
            except queue.Empty:
                return out

    def _deliver_until_stopped(
        self, waiting: list[tuple[float, int, int, Trigger, bytes]], seq: itertools.count[int]
    ) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            timeout = 0.1 if not waiting else max(0.0, min(0.1, waiting[0][0] - now))
            try:
                trigger, body = self._inbox.get(timeout=timeout)
                heapq.heappush(waiting, (time.monotonic(), next(seq), 1, trigger, body))
            except queue.Empty:
                pass
            if not waiting or waiting[0][0] > time.monotonic():
                continue
            _, _, attempt, trigger, body = heapq.heappop(waiting)
            try:
                self._transport.deliver(body, trigger)
            except PermanentDeliveryError as err:
                self._give_up(trigger, body, f"refused: {err}")
            except Exception as err:  # any transport failure is retried, then dead-lettered
                if attempt >= self._max_attempts:
                    self._give_up(trigger, body, f"{type(err).__name__}: {err}")
                else:
                    self.retried += 1
                    delay = backoff_s(attempt, self._initial_s, self._max_s)
                    delay *= 0.8 + 0.4 * random.random()  # jitter: no retry storms
                    heapq.heappush(
                        waiting, (time.monotonic() + delay, next(seq), attempt + 1, trigger, body)
                    )
            else:
                self.delivered += 1
                self._done()
