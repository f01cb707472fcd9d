"""The garbage-collector policy of netcx's long-running processes (HTTP workers, the
recognition follower): they hold large long-lived heaps and allocate many short-lived
objects per request or event."""

from __future__ import annotations

import gc

_GC_YOUNG_THRESHOLD = 20_000
"""Allocations between young-generation collections (CPython's default: 700). Each request
allocates thousands of short-lived objects (decoded events); collecting every 700 cost as
much CPU as decoding them (measured with bench/collect.py)."""


def _freeze_after_full_collection(phase: str, info: dict[str, int]) -> None:
    """Right after a full collection every tracked object is reachable: freeze them, so the
    next full collection walks only what was allocated since. Without this, full
    collections walk the whole growing heap (decision index, identity caches) and paused a
    worker for 50–140 ms, which made /v1/decide's p99 at 2 k req/s 55 ms instead of ~4 ms
    (bench/decide.py). Frozen objects are still freed by reference counting; only a
    reference cycle formed later among them would stay until the process ends."""
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


def tune_gc() -> None:
    """The long-running processes' collector policy (called once their objects are built)."""
    # What the worker built at start-up lives as long as the process: out of the
    # collector's sight, so old-generation collections do not walk it again and again.
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    if _freeze_after_full_collection not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collection)
