"""One contract for every DecisionLog (memory, SQLite, PostgreSQL): get by id, contacts per
account in time order, SRM exposure units per distinct account; the durable logs survive a
reopen and a crash, and processes sharing them see each other's decisions."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.adapters.decisions.postgres_log import PostgresDecisionLog
from netcx.adapters.decisions.sqlite_log import SqliteDecisionLog
from netcx.adapters.storage._postgres import Postgres
from netcx.domain.decisions.engine import Decision, DecisionEngine
from netcx.ports import DecisionLog
from tests.contract.privacy_backends import postgres_url  # noqa: F401
from tests.unit.decisions.helpers import NOW, ctx, default_policy, line_visitor

ENGINE = DecisionEngine(default_policy())
ROOT = Path(__file__).parents[2]
DURABLE = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def decision(i: int, account: str, at_ms: int, session: str) -> Decision:
    c = ctx(
        ("churn_research", 0.9), recognition=line_visitor(account), at_ms=at_ms, session_id=session
    )
    return ENGINE.decide(c, [], f"dc_{at_ms:013x}{i:012x}")


def open_log(backend: str, where: str, interval_s: float = 0.05) -> DecisionLog:
    """A durable log on `where`: a SQLite file path or a PostgreSQL URL."""
    if backend == "sqlite":
        return SqliteDecisionLog(Path(where), flush_interval_s=interval_s)
    db = Postgres(where, pool_size=2)
    db.migrate()
    return PostgresDecisionLog(db, sync_interval_s=interval_s)


def stored_rows(backend: str, where: str) -> list[tuple[Any, ...]]:
    """(decision_id, session_id, account_id, experiences, shown, holdout, universal_holdout)
    of every stored row, in commit order."""
    sql = (
        "SELECT decision_id, session_id, account_id, experiences, shown, holdout, "
        "universal_holdout FROM decisions ORDER BY seq"
    )
    if backend == "sqlite":
        log = SqliteDecisionLog(Path(where))
        try:
            return [(*r[:4], *map(bool, r[4:])) for r in log.query(sql)]
        finally:
            log.close()
    db = Postgres(where, pool_size=1)
    try:
        return [tuple(r) for r in db.run("rows", lambda c: c.execute(sql).fetchall())]
    finally:
        db.close()


@pytest.fixture
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Where a durable backend keeps an empty log for this test."""

    def place(backend: str) -> str:
        if backend == "sqlite":
            return str(tmp_path / "decisions.sqlite")
        url: str = request.getfixturevalue("postgres_url")
        db = Postgres(url, pool_size=1)
        db.migrate()
        db.run("truncate", lambda c: c.execute("TRUNCATE decisions"))
        db.close()
        return url

    return place


@pytest.fixture(params=["memory", *DURABLE])
def make_log(
    request: pytest.FixtureRequest, where: Callable[[str], str]
) -> Iterator[Callable[[], DecisionLog]]:
    opened: list[DecisionLog] = []
    backend: str = request.param
    place = None if backend == "memory" else where(backend)

    def make() -> DecisionLog:
        log = MemoryDecisionLog() if place is None else open_log(backend, place)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def test_append_get_and_contacts_in_time_order(make_log: Callable[[], DecisionLog]) -> None:
    log = make_log()
    ds = [
        decision(i, "ac1_a" if i % 2 else "ac1_b", NOW + (10 - i) * 1000, f"s{i}")
        for i in range(10)
    ]
    for d in ds:
        log.append(d)
    assert log.get(ds[3].decision_id) == ds[3]
    assert log.get("dc_missing") is None
    contacts = log.contacts("ac1_a", NOW + 4000)
    assert [c.at_ms for c in contacts] == sorted(c.at_ms for c in contacts)
    assert {c.session_id for c in contacts} == {"s1", "s3", "s5"}
    assert contacts[0].experience_ids == tuple(x.experience_id for x in ds[5].chosen)
    assert log.contacts("ac1_nobody", 0) == []


def test_exposure_units_count_distinct_accounts(make_log: Callable[[], DecisionLog]) -> None:
    log = make_log()
    ds = [decision(i, f"ac1_{i % 300}", NOW + i, f"s{i}") for i in range(900)]
    for d in ds:
        log.append(d)
    units = log.exposure_units()
    control = {d.account_id for d in ds if d.universal_holdout}
    assert units.get(("universal", "control"), 0) == len(control)
    assert units[("universal", "control")] + units[("universal", "eligible")] == 300
    held = {d.account_id for d in ds if not d.universal_holdout and d.chosen[0].held_out}
    assert units[("experience:retention_save_offer", "held_out")] == len(held)


@pytest.mark.parametrize("backend", DURABLE)
def test_durable_log_survives_reopen(backend: str, where: Callable[[str], str]) -> None:
    place = where(backend)
    log = open_log(backend, place)
    d = decision(1, "ac1_a", NOW, "s1")
    log.append(d)
    log.close()
    again = open_log(backend, place)
    try:
        assert again.get(d.decision_id) == d
        assert len(again.contacts("ac1_a", 0)) == 1
    finally:
        again.close()
    experiences = "retention_save_offer,retention_follow_up"
    assert stored_rows(backend, place) == [
        (d.decision_id, "s1", "ac1_a", experiences, bool(d.shown), d.holdout, d.universal_holdout)
    ]


def test_one_session_is_one_contact(make_log: Callable[[], DecisionLog]) -> None:
    log = make_log()
    for i in range(50):  # fifty page views of one session
        log.append(decision(i, "ac1_a", NOW + i * 1000, "same-session"))
    contacts = log.contacts("ac1_a", 0)
    assert len(contacts) == 1 and contacts[0].at_ms == NOW + 49_000


@pytest.mark.parametrize("backend", DURABLE)
def test_durable_log_keeps_flushed_decisions_across_a_crash(
    backend: str, where: Callable[[str], str]
) -> None:
    place = where(backend)
    script = textwrap.dedent(
        f"""
        import os
        import time
        from tests.contract.test_decision_log import decision, open_log
        log = open_log({backend!r}, {place!r})
        for i in range(5):
            log.append(decision(i, "ac1_a", {NOW} + i, f"s{{i}}"))
        time.sleep(1.0)  # longer than the flush interval
        os._exit(1)  # no close: the process dies
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False, timeout=60)
    log = open_log(backend, place)
    try:
        assert len(log.contacts("ac1_a", 0)) == 5
    finally:
        log.close()
    assert len(stored_rows(backend, place)) == 5


PER_PROCESS = 300


def _worker_decisions(worker: int) -> list[Decision]:
    return [
        decision(i, f"ac1_{i % 7}", NOW + worker * 1_000_000 + i, f"w{worker}-s{i}")
        for i in range(PER_PROCESS)
    ]


def _append_and_wait_for_the_other(backend: str, place: str, worker: int, ready: Any) -> None:
    """One `netcx serve` worker: appends its decisions for shared accounts while the other
    worker does the same, then waits until its caps and SRM units count both workers'."""
    both = MemoryDecisionLog()
    for d in _worker_decisions(0) + _worker_decisions(1):
        both.append(d)
    accounts = [f"ac1_{a}" for a in range(7)]
    log = open_log(backend, place, interval_s=0.01)
    ready.wait()
    for d in _worker_decisions(worker):
        log.append(d)
    deadline = time.monotonic() + 30
    while [log.contacts(a, 0) for a in accounts] != [both.contacts(a, 0) for a in accounts]:
        if time.monotonic() > deadline:
            raise SystemExit(f"worker {worker} never saw the other worker's decisions")
        time.sleep(0.02)
    assert log.exposure_units() == both.exposure_units()
    other = _worker_decisions(1 - worker)
    assert log.get(other[-1].decision_id) == other[-1]
    log.close()


@pytest.mark.parametrize("backend", DURABLE)
def test_two_processes_share_the_log_and_each_write_lands_once(
    backend: str, where: Callable[[str], str]
) -> None:
    place = where(backend)
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(2)
    procs = [
        spawn.Process(target=_append_and_wait_for_the_other, args=(backend, place, w, ready))
        for w in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    rows = stored_rows(backend, place)
    assert len(rows) == 2 * PER_PROCESS
    assert len({r[0] for r in rows}) == len({r[1] for r in rows}) == 2 * PER_PROCESS
    made = {d.decision_id: d for d in _worker_decisions(0) + _worker_decisions(1)}
    assert {r[0]: r[3:] for r in rows} == {
        i: (
            ",".join(c.experience_id for c in d.chosen),
            bool(d.shown),
            d.holdout,
            d.universal_holdout,
        )
        for i, d in made.items()
    }
    assert any(r[5] for r in rows) and any(r[6] for r in rows)  # both holdouts occur
    log = open_log(backend, place)
    try:
        units = log.exposure_units()
        assert units[("universal", "control")] + units[("universal", "eligible")] == 7
    finally:
        log.close()
