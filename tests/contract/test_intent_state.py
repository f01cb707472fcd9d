"""One contract for every IntentStateStore: memory, embedded (SQLite) and Redis."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netcx.adapters.storage.intent_state_memory import MemoryIntentStateStore
from netcx.adapters.storage.intent_state_redis import RedisIntentStateStore
from netcx.adapters.storage.intent_state_sqlite import SqliteIntentStateStore
from netcx.domain.intents.scoring import Evidence, IntentScorer, SubjectState
from netcx.ports import IntentStateStore
from netcx.services.intents import load_taxonomy
from tests.servers import redis_server

# A backend: (open a store; open another worker's store on the same data, or None if the
# backend has no second view of its data)
Opener = Callable[[], IntentStateStore]
scorer = IntentScorer(load_taxonomy())


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)],
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Opener, bool]:
    """(open another handle on the same data, does the data survive a new handle)."""
    if request.param == "memory":
        shared = MemoryIntentStateStore()
        return (lambda: shared), False
    if request.param == "sqlite":
        sqlite_opened: list[SqliteIntentStateStore] = []

        def open_sqlite() -> IntentStateStore:  # one connection per worker, one file
            store = SqliteIntentStateStore(tmp_path / "state.sqlite")
            sqlite_opened.append(store)
            return store

        request.addfinalizer(lambda: [s.close() for s in sqlite_opened])
        return open_sqlite, True
    url = request.getfixturevalue("redis_url")
    prefix = f"t:{request.node.name}:"
    opened: list[RedisIntentStateStore] = []

    def open_redis() -> IntentStateStore:
        store = RedisIntentStateStore(url, ttl_s=3600, prefix=prefix)
        opened.append(store)
        return store

    request.addfinalizer(lambda: [s.close() for s in opened])
    return open_redis, True


def _signal(state: SubjectState | None, intent: str, ts: int, ref: str = "") -> SubjectState:
    ev = Evidence(
        ts_ms=ts, family="path", rule=f"{intent}.rules[0]:x", value="/ä/x", weight=0.7, ref=ref
    )
    new, _ = scorer.add("s", state, [(intent, 0.7, ev)])
    return new


def test_unknown_subjects_have_no_state(backend: tuple[Opener, bool]) -> None:
    store = backend[0]()
    assert store.get_many(["nobody"]) == {}
    assert store.get_many([]) == {}
    assert store.delete("nobody") is False


def test_update_creates_and_changes_a_state_exactly(backend: tuple[Opener, bool]) -> None:
    store = backend[0]()
    first = store.update("ln_1", lambda s: _signal(s, "roaming", 1000, "h1"))
    assert first.intents["roaming"].score == pytest.approx(0.7)
    second = store.update("ln_1", lambda s: _signal(s, "roaming", 2000, "h2"))
    got = store.get_many(["ln_1", "ln_2"])
    assert list(got) == ["ln_1"]
    assert got["ln_1"] == second
    assert [e.ref for e in got["ln_1"].intents["roaming"].evidence] == ["h1", "h2"]
    assert got["ln_1"].intents["roaming"].evidence[0].value == "/ä/x"


def test_delete_forgets_a_subject(backend: tuple[Opener, bool]) -> None:
    store = backend[0]()
    store.update("hh_1", lambda s: _signal(s, "outage", 1))
    store.update("hh_2", lambda s: _signal(s, "outage", 1))
    assert store.delete("hh_1") is True
    assert list(store.get_many(["hh_1", "hh_2"])) == ["hh_2"]


def test_state_is_shared_between_workers(backend: tuple[Opener, bool]) -> None:
    open_store, persistent = backend
    a = open_store()
    a.update("vi_1", lambda s: _signal(s, "upgrade", 5))
    b = open_store()
    if persistent:
        assert b.get_many(["vi_1"])["vi_1"].intents["upgrade"].first_signal_ms == 5


def test_handles_taking_turns_build_on_each_others_updates(
    backend: tuple[Opener, bool],
) -> None:
    """Two workers (or a worker and the follower) update the same subjects in turn: each
    update starts from the other's last write, never from a state the handle held."""
    open_store = backend[0]
    a, b = open_store(), open_store()
    for i in range(6):
        store = (a, b)[i % 2]
        store.update("hh_turns", lambda s, i=i: _signal(s, "fibre_availability", i, f"{i}"))
        store.update_many({"vi_turns": lambda s, i=i: _signal(s, "upgrade", i, f"{i}")})
    for store in (a, b):
        got = store.get_many(["hh_turns", "vi_turns"])
        assert [e.ref for e in got["hh_turns"].intents["fibre_availability"].evidence] == [
            str(i) for i in range(6)
        ]
        assert got["vi_turns"].intents["upgrade"].score == pytest.approx(6 * 0.7)


def test_a_write_that_fails_leaves_no_trace_in_the_next_update(tmp_path: Path) -> None:
    """The embedded store keeps the states it wrote; when the transaction fails after they
    were encoded, the next update starts from what is stored, not from the lost write."""
    store = SqliteIntentStateStore(tmp_path / "state.sqlite")
    try:
        store.update("vi_1", lambda s: _signal(s, "upgrade", 1, "kept"))
        encode = store._states.encode
        calls = 0

        def encode_then_fail(subject: str, state: SubjectState) -> bytes:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise OSError("disk full")
            return encode(subject, state)

        store._states.encode = encode_then_fail  # type: ignore[method-assign]
        with pytest.raises(OSError, match="disk full"):
            store.update_many(
                {
                    "vi_1": lambda s: _signal(s, "upgrade", 2, "lost"),
                    "vi_2": lambda s: _signal(s, "upgrade", 2, "lost"),
                }
            )
        store._states.encode = encode  # type: ignore[method-assign]
        store.update("vi_1", lambda s: _signal(s, "upgrade", 3, "next"))
        got = store.get_many(["vi_1", "vi_2"])
        assert [e.ref for e in got["vi_1"].intents["upgrade"].evidence] == ["kept", "next"]
        assert "vi_2" not in got
    finally:
        store.close()


def test_concurrent_updates_are_not_lost(backend: tuple[Opener, bool]) -> None:
    open_store = backend[0]
    workers = [open_store() for _ in range(4)]
    per_worker = 25

    def run(store: IntentStateStore, w: int) -> None:
        for i in range(per_worker):
            store.update("hh_busy", lambda s, i=i: _signal(s, "fibre_availability", i, f"{w}"))

    threads = [threading.Thread(target=run, args=(s, w)) for w, s in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = workers[0].get_many(["hh_busy"])["hh_busy"].intents["fibre_availability"]
    hl = scorer.taxonomy.intents["fibre_availability"].half_life_s
    # every signal landed (≈ 100 × 0.7, decay over 25 ms is negligible at a 7-day half-life)
    assert final.score == pytest.approx(len(workers) * per_worker * 0.7, rel=1e-6), hl


def test_update_many_changes_every_subject_in_one_go(backend: tuple[Opener, bool]) -> None:
    store = backend[0]()
    store.update("ln_1", lambda s: _signal(s, "roaming", 1000, "h1"))
    new = store.update_many(
        {
            "ln_1": lambda s: _signal(s, "roaming", 2000, "h2"),
            "hh_1": lambda s: _signal(s, "outage", 2000, "h2"),
        }
    )
    assert store.update_many({}) == {}
    got = store.get_many(["ln_1", "hh_1"])
    assert got == new
    assert [e.ref for e in got["ln_1"].intents["roaming"].evidence] == ["h1", "h2"]
    assert got["hh_1"].intents["outage"].score == pytest.approx(0.7)


def test_a_failing_change_leaves_every_subject_of_update_many_unchanged(
    backend: tuple[Opener, bool],
) -> None:
    store = backend[0]()
    before = store.update("ln_1", lambda s: _signal(s, "roaming", 1000, "h1"))

    def fail(_: SubjectState | None) -> SubjectState:
        raise RuntimeError("scoring bug")

    with pytest.raises(RuntimeError):
        store.update_many({"ln_1": lambda s: _signal(s, "roaming", 2000, "h2"), "hh_1": fail})
    assert store.get_many(["ln_1", "hh_1"]) == {"ln_1": before}


def test_concurrent_update_many_loses_no_write(backend: tuple[Opener, bool]) -> None:
    open_store = backend[0]
    workers = [open_store() for _ in range(3)]

    def run(store: IntentStateStore, w: int) -> None:
        for i in range(15):
            store.update_many(
                {
                    "hh_busy": lambda s, i=i: _signal(s, "outage", i, f"{w}"),
                    f"ln_{w}": lambda s, i=i: _signal(s, "roaming", i, f"{w}"),
                }
            )

    threads = [threading.Thread(target=run, args=(s, w)) for w, s in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = workers[0].get_many(["hh_busy", "ln_0", "ln_1", "ln_2"])
    assert got["hh_busy"].intents["outage"].score == pytest.approx(3 * 15 * 0.7, rel=1e-6)
    assert all(got[f"ln_{w}"].intents["roaming"].score == pytest.approx(15 * 0.7) for w in range(3))


PER_PROCESS = 40


def _update_concurrently(path: str, worker: int, ready: Any) -> None:
    store = SqliteIntentStateStore(Path(path))
    ready.wait()
    for i in range(PER_PROCESS):
        store.update("hh_busy", lambda s, i=i: _signal(s, "fibre_availability", i, f"w{worker}"))
        store.update(f"ln_{worker}_{i}", lambda s, i=i: _signal(s, "roaming", i, f"w{worker}"))
    store.close()


def test_two_processes_update_one_subject_without_losing_a_write(tmp_path: Path) -> None:
    """Two `netcx serve` workers on one embedded file: read-modify-write in BEGIN IMMEDIATE
    never loses the other process's update."""
    path = tmp_path / "state.sqlite"
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(2)
    procs = [
        spawn.Process(target=_update_concurrently, args=(str(path), w, ready)) for w in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    store = SqliteIntentStateStore(path)
    try:
        final = store.get_many(["hh_busy"])["hh_busy"].intents["fibre_availability"]
        assert final.score == pytest.approx(2 * PER_PROCESS * 0.7, rel=1e-6)
        lines = [f"ln_{w}_{i}" for w in range(2) for i in range(PER_PROCESS)]
        got = store.get_many(lines)
        assert sorted(got) == sorted(lines)
        assert all(s.intents["roaming"].score == pytest.approx(0.7) for s in got.values())
    finally:
        store.close()


def test_a_file_in_the_former_without_rowid_layout_is_migrated_with_its_states(
    tmp_path: Path,
) -> None:
    """Data dirs written before the rowid layout keep every state and stay writable."""
    import sqlite3

    from netcx.adapters.storage.intent_state_codec import encode_state

    path = tmp_path / "state.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE intent_state (subject_id TEXT PRIMARY KEY, state BLOB NOT NULL) WITHOUT ROWID"
    )
    before = _signal(None, "roaming", 1, "w0")
    old.execute("INSERT INTO intent_state VALUES (?, ?)", ("ln_old", encode_state(before)))
    old.commit()
    old.close()
    store = SqliteIntentStateStore(path)
    try:
        assert store.get_many(["ln_old"]) == {"ln_old": before}
        store.update("ln_old", lambda s: _signal(s, "roaming", 2, "w0"))
        assert store.get_many(["ln_old"])["ln_old"].intents["roaming"].score > (
            before.intents["roaming"].score
        )
    finally:
        store.close()
    con = sqlite3.connect(path)
    tables = dict(con.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'table'"))
    con.close()
    assert "WITHOUT ROWID" not in tables["intent_state"].upper()
    assert "intent_state_old" not in tables


def test_states_are_stored_compressed_and_plain_msgpack_states_still_decode() -> None:
    """The codec's two formats: what it writes now, and what stores hold from before."""
    import msgspec

    from netcx.adapters.storage.intent_state_codec import decode_state, encode_state

    state = None
    for i in range(40):
        state = _signal(state, ["roaming", "fibre_availability", "churn_research"][i % 3], i)
    assert state is not None
    plain = msgspec.msgpack.encode(state)
    blob = encode_state(state)
    assert len(blob) < len(plain) / 2
    assert decode_state(blob) == state
    assert decode_state(plain) == state


def test_held_states_encode_and_decode_to_the_bytes_of_the_whole_state() -> None:
    """`DecodedStates` (the embedded store's cache of states) and the evidence kept encoded
    in each score: whatever a sequence of changes does (new intents, changed ones, an equal
    but rebuilt score, all rebuilt, a dropped intent, the bus ledger, evidence past the
    limit, a late event, an emerged intent, a journey started afresh), its bytes are those
    of `encode_state`, they decode to the same state, and another reader's next change
    from them is encoded the same way."""
    import msgspec

    from netcx.adapters.storage.intent_state_codec import (
        DecodedStates,
        decode_state,
        encode_state,
    )

    states = DecodedStates()
    state: SubjectState | None = None
    for i in range(60):
        state = _signal(state, ["roaming", "fibre_availability", "churn_research"][i % 3], i)
        if i == 40:  # a late event (evidence re-sorted)
            state = _signal(state, "fibre_availability", 3)
        if i == 50:  # long after: the old journey is forgotten, a new one starts
            state = _signal(state, "churn_research", 10**13)
        if i == 10:  # an equal score rebuilt as another object, and the bus ledger
            rebuilt = msgspec.structs.replace(state.intents["roaming"], score=9.5)
            state = SubjectState({**state.intents, "roaming": rebuilt}, applied=("k1", "k2"))
        if i == 15:  # every score rebuilt (a batch's worth of changes): encoded whole
            state = SubjectState({k: msgspec.structs.replace(v) for k, v in state.intents.items()})
        if i == 20:  # an intent forgotten
            state = SubjectState({k: v for k, v in state.intents.items() if k != "roaming"})
        blob = states.encode("ln_1", state)
        assert blob == encode_state(state), i
        assert decode_state(blob) == state
        assert states.decode("ln_1", blob) is state
        # Another worker reads those bytes and writes the next change from them.
        other = DecodedStates()
        step = _signal(other.decode("ln_1", blob), "roaming", 100 + i)
        assert other.encode("ln_1", step) == encode_state(step), i
    assert len(state.intents["fibre_availability"].evidence) == scorer.taxonomy.max_evidence
    assert state.intents["fibre_availability"].emerged_ms is not None
    assert len(state.intents["churn_research"].evidence) < scorer.taxonomy.max_evidence
    assert states.encode("ln_1", SubjectState()) == encode_state(SubjectState())


def test_a_cached_decoded_state_is_not_used_once_another_worker_rewrote_it(
    tmp_path: Path,
) -> None:
    """Each embedded store keeps recently decoded states; a write by another worker (other
    bytes on disk) must be read, not the remembered state."""
    path = tmp_path / "state.sqlite"
    one, two = SqliteIntentStateStore(path), SqliteIntentStateStore(path)
    try:
        one.update("ln_1", lambda s: _signal(s, "roaming", 1, "a"))
        assert one.get_many(["ln_1"])["ln_1"].intents["roaming"].score == pytest.approx(0.7)
        two.update("ln_1", lambda s: _signal(s, "roaming", 2, "b"))
        assert one.get_many(["ln_1"])["ln_1"].intents["roaming"].score == pytest.approx(1.4)
        after = one.update("ln_1", lambda s: _signal(s, "roaming", 3, "c"))
        assert after.intents["roaming"].score == pytest.approx(2.1)
        one.delete("ln_1")
        assert one.get_many(["ln_1"]) == {}
    finally:
        one.close()
        two.close()
