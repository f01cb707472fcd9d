"""Opening an embedded SQLite file for the storage adapters.

WAL journal with synchronous=NORMAL: a commit is durable against a process crash without
an fsync per write, readers never block the writer, and several processes (`netcx serve`
workers, the CLI) share one file safely.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from netcx.errors import Unavailable

_OPEN_TIMEOUT_S = 10.0
V = TypeVar("V")


class SqliteFile:
    """One connection to one file, serialised by a lock (the adapters are called from
    Starlette's thread pool)."""

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + _OPEN_TIMEOUT_S
        while True:
            con = None
            try:
                con = sqlite3.connect(
                    str(path), isolation_level=None, check_same_thread=False, timeout=10
                )
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                # Deleted rows are zeroed, not left in free space (erasure must remove the
                # bytes).
                con.execute("PRAGMA secure_delete=ON")
                con.executescript(schema)
                break
            except sqlite3.Error as err:
                if con is not None:
                    con.close()
                # Processes opening a new file at once (serve's workers) race to switch it to
                # WAL; the loser gets "locked" at once, without the busy timeout: retry.
                locked = isinstance(err, sqlite3.OperationalError) and "locked" in str(err)
                if not locked or time.monotonic() > deadline:
                    raise Unavailable(f"{path}: cannot open the embedded store: {err}") from err
                time.sleep(0.05)
        self._con = con
        self.path = path
        self._lock = threading.Lock()
        self._data_version: int | None = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error); a store another process keeps
        locked past the timeout is Unavailable."""
        with self._lock:
            try:
                self._con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                raise Unavailable(f"{self.path}: store is locked: {err}") from err
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    @contextmanager
    def erasing(self) -> Iterator[sqlite3.Connection]:
        """A transaction that deletes personal data: after the commit, the write-ahead log
        (which still holds the old pages) is checkpointed into the file and truncated."""
        with self.transaction() as con:
            yield con
        with self._lock:
            busy, _, _ = self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise Unavailable(f"{self.path}: erased, but a reader kept the old pages; retry")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._con

    def others_committed(self, con: sqlite3.Connection) -> bool:
        """Whether any other connection (another process, or another store on the same
        file) committed to the file since the previous call (True on the first call): a
        store's cache of rows it read or wrote itself is current while this is False. Call
        it inside `reading()` or `transaction()`; inside a transaction the answer holds
        until its commit, because nobody else can write meanwhile. Each call consumes the
        news, so one cache per file may ask (each store here opens its own file)."""
        (version,) = con.execute("PRAGMA data_version").fetchone()
        changed = version != self._data_version
        self._data_version = version
        return bool(changed)

    def close(self) -> None:
        with self._lock:
            self._con.close()


class KeptRows(Generic[V]):
    """What a store read or wrote itself, by key (up to `capacity` keys), for as long as no
    other connection commits to its file: then, or when full, it is emptied before the next
    read. Use it under the file's lock (`reading()` or `transaction()`); clear it on every
    erasure or purge."""

    def __init__(self, db: SqliteFile, capacity: int) -> None:
        self._db = db
        self._capacity = capacity
        self._rows: dict[str, V] = {}

    def current(self, con: sqlite3.Connection) -> dict[str, V]:
        """The rows kept, still valid (emptied first if another connection committed)."""
        if self._db.others_committed(con) or len(self._rows) > self._capacity:
            self._rows.clear()
        return self._rows

    def many(
        self,
        con: sqlite3.Connection,
        keys: Sequence[str],
        read: Callable[[list[str]], dict[str, V]],
    ) -> dict[str, V]:
        """Each key's row: kept ones as they are, the others from `read(missing)`, which
        must answer every key it is given."""
        rows = self.current(con)
        missing = [k for k in keys if k not in rows]
        if missing:
            rows.update(read(missing))
        return {k: rows[k] for k in keys}

    def clear(self) -> None:
        self._rows.clear()
