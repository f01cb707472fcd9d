"""Run an adapter's `close` when its process ends, including a server's worker processes."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from multiprocessing import util


def close_at_exit(close: Callable[[], None]) -> None:
    """`close` must be idempotent: it may be called by both hooks.

    atexit covers ordinary processes; forked worker processes (granian's) leave through
    multiprocessing, which skips atexit but runs its own finalizers.
    """
    atexit.register(close)
    util.Finalize(None, close, exitpriority=10)
