"""Embedded IntentStateStore: encoded states in SQLite WAL files every process shares.

`update` (and `update_many`, for several subjects) reads, changes and writes inside one
`BEGIN IMMEDIATE` per file, so two workers (or a worker and the CLI) updating the same
subject never lose each other's change.

The states are spread over `FILES` files by a hash of the subject (`intent_state.sqlite`,
`intent_state.1.sqlite`, …). SQLite locks a whole file for a write, and a group's update
holds that lock while it decodes, scores and encodes: with one file, two workers
recognising batches inline waited for each other a third of their recognition time and
the cores were 1.6 of 2 busy. With two files, a worker takes first the file that is free
(`SqliteFile.try_transaction`), so both update at once (measured: see docs/collector.md).

States are a few kilobytes (every intent keeps its latest evidence), so the table is an
ordinary rowid table written with an UPSERT: a WITHOUT ROWID table keeps such rows in its
key b-tree and INSERT OR REPLACE deletes and re-inserts them, which cost twice the CPU per
update (measured: 50 → 28 µs per 5 KB state read-modify-write, groups of 32).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from netcx.adapters.storage._sqlite import SqliteFile
from netcx.adapters.storage.intent_state_codec import DecodedStates, decode_state, encode_state
from netcx.domain.intents.scoring import SubjectState
from netcx.domain.privacy import export_intent_states, without_evidence_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intent_state (
    subject_id TEXT PRIMARY KEY,
    state BLOB NOT NULL
);
"""
_UPSERT = (
    "INSERT INTO intent_state (subject_id, state) VALUES (?, ?) "
    "ON CONFLICT (subject_id) DO UPDATE SET state = excluded.state"
)


def _migrate_without_rowid(db: SqliteFile) -> None:
    """Files written before the rowid layout: copy their states into it (one transaction)."""
    with db.transaction() as con:
        row = con.execute(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'intent_state'"
        ).fetchone()
        if row is None or "WITHOUT ROWID" not in row[0].upper():
            return
        con.execute("ALTER TABLE intent_state RENAME TO intent_state_old")
        con.execute(_SCHEMA.strip().rstrip(";"))
        con.execute("INSERT INTO intent_state SELECT subject_id, state FROM intent_state_old")
        con.execute("DROP TABLE intent_state_old")


FILES = 4  # changing it moves the states to their new files at the next start (_rehome)
Change = Callable[[SubjectState | None], SubjectState]


def file_of(subject_id: str, files: int = FILES) -> int:
    """Which of the files holds a subject's state (stable across processes and runs)."""
    return zlib.crc32(subject_id.encode()) % files


class _StateFile:
    """One of the files: its connection and the states it decoded or wrote."""

    def __init__(self, path: Path) -> None:
        self.db = SqliteFile(path, _SCHEMA)
        _migrate_without_rowid(self.db)
        self.states = DecodedStates()  # (used under the file's lock)

    def get_many(self, ids: list[str]) -> dict[str, SubjectState]:
        with self.db.reading() as con:
            rows = con.execute(
                "SELECT subject_id, state FROM intent_state WHERE subject_id IN "
                "(SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            ).fetchall()
            return {sid: self.states.decode(sid, blob) for sid, blob in rows}

    def update(
        self, con: sqlite3.Connection, changes: Mapping[str, Change]
    ) -> tuple[dict[str, SubjectState | None], dict[str, SubjectState]]:
        """Inside a transaction: the subjects' states before and after their change. While
        no other connection has committed to the file since this one's last transaction
        (the recognition follower: the only writer), the states it holds are the stored
        ones and are not read again (a group of single events: a fifth of its update)."""
        states = self.states
        try:
            if self.db.others_committed(con):
                states.clear()
            current = {s: states.held(s) for s in changes}
            unknown = [s for s, state in current.items() if state is None]
            if unknown:
                rows = con.execute(
                    "SELECT subject_id, state FROM intent_state WHERE subject_id IN "
                    "(SELECT value FROM json_each(?))",
                    (json.dumps(unknown),),
                ).fetchall()
                current.update((s, states.decode(s, blob)) for s, blob in rows)
            new = {s: change(current[s]) for s, change in changes.items()}
            con.executemany(_UPSERT, [(s, states.encode(s, st)) for s, st in new.items()])
        except BaseException:
            states.clear()  # it may hold states the rollback undid
            raise
        return current, new

    def undo(
        self, before: Mapping[str, SubjectState | None], after: Mapping[str, SubjectState]
    ) -> None:
        """Put back the states `before` of subjects whose state is still `after` (a later
        file of the same `update_many` failed)."""
        with self.db.transaction() as con:
            self.states.clear()
            for sid, old in before.items():
                row = con.execute(
                    "SELECT state FROM intent_state WHERE subject_id = ?", (sid,)
                ).fetchone()
                if row is None or decode_state(row[0]) != after[sid]:
                    continue  # another worker changed it since: theirs stays
                if old is None:
                    con.execute("DELETE FROM intent_state WHERE subject_id = ?", (sid,))
                else:
                    con.execute(_UPSERT, (sid, encode_state(old)))

    def close(self) -> None:
        self.db.close()


def _paths(path: Path, files: int) -> list[Path]:
    """`path` itself (so a directory written before the files were split keeps its states
    where they were), then `<stem>.1<suffix>`, …"""
    return [path] + [path.with_name(f"{path.stem}.{i}{path.suffix}") for i in range(1, files)]


class SqliteIntentStateStore:
    name = "intent_state"

    def __init__(self, path: Path, files: int = FILES) -> None:
        self._files = [_StateFile(p) for p in _paths(path, files)]
        _rehome(self._files, path.with_name(f"{path.stem}.files"))
        # Start with a different file in each process: two workers seldom want one at once.
        self._first = os.getpid() % files

    def _by_file(self, subject_ids: Iterable[str]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        n = len(self._files)
        for sid in subject_ids:
            out.setdefault(file_of(sid, n), []).append(sid)
        return out

    def get_many(self, subject_ids: Sequence[str]) -> dict[str, SubjectState]:
        found: dict[str, SubjectState] = {}
        for i, ids in self._by_file(dict.fromkeys(subject_ids)).items():
            found.update(self._files[i].get_many(ids))
        return found

    def update(self, subject_id: str, change: Change) -> SubjectState:
        return self.update_many({subject_id: change})[subject_id]

    def update_many(self, changes: Mapping[str, Change]) -> dict[str, SubjectState]:
        """Each file's subjects in one transaction, the files in the order their write locks
        come free. If a change or a file fails, the files already committed get their
        subjects' previous states back (those nobody changed since), so all subjects are
        changed or none, as the port says."""
        if not changes:
            return {}
        n = len(self._files)
        pending = {
            i: {s: changes[s] for s in ids}
            for i, ids in sorted(
                self._by_file(changes).items(), key=lambda kv: (kv[0] - self._first) % n
            )
        }
        new: dict[str, SubjectState] = {}
        done: list[tuple[_StateFile, dict[str, SubjectState | None], dict[str, SubjectState]]] = []
        try:
            while pending:
                for i in pending:
                    tx = self._files[i].db.try_transaction()
                    if tx is not None:
                        break
                else:  # every file is busy: wait for the first
                    i = next(iter(pending))
                    tx = self._files[i].db.transaction()
                file = self._files[i]
                with tx as con:
                    before, after = file.update(con, pending.pop(i))
                done.append((file, before, after))
                new.update(after)
        except BaseException:
            for file, before, after in done:
                file.undo(before, after)
            raise
        return new

    def delete(self, subject_id: str) -> bool:
        file = self._files[file_of(subject_id, len(self._files))]
        with file.db.transaction() as con:
            file.states.clear()
            gone = con.execute("DELETE FROM intent_state WHERE subject_id = ?", (subject_id,))
            return gone.rowcount > 0

    def export_subject(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        rows: list[tuple[str, bytes]] = []
        for file in self._files:
            with file.db.reading() as con:
                rows += con.execute("SELECT subject_id, state FROM intent_state").fetchall()
        return export_intent_states(((s, decode_state(b)) for s, b in rows), set(subjects))

    def erase_subject(self, subjects: Sequence[str]) -> int:
        """Delete the subjects' states and their evidence in others' (one transaction per
        file; a full scan: erasure is rare, and evidence may sit under any line or
        household)."""
        wanted = set(subjects)
        erased = 0
        for file in self._files:
            with file.db.erasing() as con:
                file.states.clear()
                for sid, blob in con.execute(
                    "SELECT subject_id, state FROM intent_state"
                ).fetchall():
                    if sid in wanted:
                        con.execute("DELETE FROM intent_state WHERE subject_id = ?", (sid,))
                        erased += 1
                    elif (cleaned := without_evidence_of(decode_state(blob), wanted)) is not None:
                        con.execute(
                            "UPDATE intent_state SET state = ? WHERE subject_id = ?",
                            (encode_state(cleaned), sid),
                        )
                        erased += 1
        return erased

    def close(self) -> None:
        for file in self._files:
            file.close()


def _rehome(files: list[_StateFile], marker: Path) -> None:
    """Move every state to the file `file_of` names for it, once per change of the number
    of files (a directory written with one file, or with another FILES): `marker` holds
    the number the states are spread for. Processes starting at once take turns (`flock`
    on the marker's lock file). A crash midway loses nothing: a state's copy is committed
    (where the subject has none yet) before its original is deleted."""
    n = len(files)
    if _read_marker(marker) == n:
        return
    with marker.with_name(marker.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _read_marker(marker) == n:
            return
        for i, file in enumerate(files):
            with file.db.reading() as con:
                rows = con.execute("SELECT subject_id, state FROM intent_state").fetchall()
            strays: dict[int, list[tuple[str, bytes]]] = {}
            for sid, blob in rows:
                if (home := file_of(sid, n)) != i:
                    strays.setdefault(home, []).append((sid, blob))
            if not strays:
                continue
            for home, moved in strays.items():
                with files[home].db.transaction() as con:
                    con.executemany(
                        "INSERT INTO intent_state (subject_id, state) VALUES (?, ?) "
                        "ON CONFLICT (subject_id) DO NOTHING",
                        moved,
                    )
            with file.db.transaction() as con:
                con.executemany(
                    "DELETE FROM intent_state WHERE subject_id = ?",
                    [(sid,) for moved in strays.values() for sid, _ in moved],
                )
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(f"{n}\n")
        tmp.replace(marker)


def _read_marker(marker: Path) -> int | None:
    try:
        return int(marker.read_text())
    except (FileNotFoundError, ValueError):
        return None
