"""Opening one new embedded SQLite file from several processes at once (serve's workers)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from netcx.adapters.storage._sqlite import SqliteFile

_SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY);"


def _open_at_once(path: str, ready: multiprocessing.synchronize.Barrier) -> None:
    ready.wait(timeout=30)
    db = SqliteFile(Path(path), _SCHEMA)
    with db.transaction() as con:
        con.execute("INSERT OR IGNORE INTO t VALUES ('x')")
    db.close()


def test_processes_opening_a_new_file_at_once_all_open_it(tmp_path: Path) -> None:
    """The race to switch a new file to WAL answers "database is locked" at once, without
    SQLite's busy timeout; every opener must still get the store."""
    spawn = multiprocessing.get_context("spawn")
    for attempt in range(5):
        path = tmp_path / f"new-{attempt}.sqlite"
        ready = spawn.Barrier(4)
        procs = [spawn.Process(target=_open_at_once, args=(str(path), ready)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0], attempt
