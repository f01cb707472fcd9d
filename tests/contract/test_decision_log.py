"""One contract for every DecisionLog: get by id, contacts per account in time order,
SRM exposure units per distinct account; the SQLite log survives a reopen and a crash, and
processes sharing its file see each other's decisions."""

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
from netcx.adapters.decisions.sqlite_log import SqliteDecisionLog
from netcx.domain.decisions.engine import Decision, DecisionEngine
from netcx.ports import DecisionLog
from tests.unit.decisions.helpers import NOW, ctx, default_policy, line_visitor

ENGINE = DecisionEngine(default_policy())
ROOT = Path(__file__).parents[2]


def decision(i: int, account: str, at_ms: int, session: str) -> Decision:
    c = ctx(
        ("churn_research", 0.9), recognition=line_visitor(account), at_ms=at_ms, session_id=session
    )
    return ENGINE.decide(c, [], f"dc_{at_ms:013x}{i:012x}")


@pytest.fixture(params=["memory", "sqlite"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], DecisionLog]]:
    opened: list[DecisionLog] = []

    def make() -> DecisionLog:
        log: DecisionLog = (
            MemoryDecisionLog()
            if request.param == "memory"
            else SqliteDecisionLog(tmp_path / "decisions.sqlite", flush_interval_s=0.05)
        )
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


def test_sqlite_log_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "decisions.sqlite"
    log = SqliteDecisionLog(path)
    d = decision(1, "ac1_a", NOW, "s1")
    log.append(d)
    log.close()
    again = SqliteDecisionLog(path)
    try:
        assert again.get(d.decision_id) == d
        assert len(again.contacts("ac1_a", 0)) == 1
        rows = again.query("SELECT account_id, experiences, shown FROM decisions")
        assert rows == [("ac1_a", "retention_save_offer,retention_follow_up", int(bool(d.shown)))]
    finally:
        again.close()


def test_one_session_is_one_contact(make_log: Callable[[], DecisionLog]) -> None:
    log = make_log()
    for i in range(50):  # fifty page views of one session
        log.append(decision(i, "ac1_a", NOW + i * 1000, "same-session"))
    contacts = log.contacts("ac1_a", 0)
    assert len(contacts) == 1 and contacts[0].at_ms == NOW + 49_000


def test_sqlite_log_keeps_flushed_decisions_across_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "decisions.sqlite"
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from netcx.adapters.decisions.sqlite_log import SqliteDecisionLog
        from tests.contract.test_decision_log import decision
        import time
        log = SqliteDecisionLog(Path({str(path)!r}), flush_interval_s=0.05)
        for i in range(5):
            log.append(decision(i, "ac1_a", {NOW} + i, f"s{{i}}"))
        time.sleep(1.0)  # longer than the flush interval
        os._exit(1)  # no close: the process dies
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False, timeout=60)
    log = SqliteDecisionLog(path)
    try:
        assert len(log.contacts("ac1_a", 0)) == 5
        assert log.query("SELECT count(*) FROM decisions") == [(5,)]
    finally:
        log.close()


PER_PROCESS = 300


def _worker_decisions(worker: int) -> list[Decision]:
    return [
        decision(i, f"ac1_{i % 7}", NOW + worker * 1_000_000 + i, f"w{worker}-s{i}")
        for i in range(PER_PROCESS)
    ]


def _append_and_wait_for_the_other(path: str, worker: int, ready: Any) -> None:
    """One `netcx serve` worker: appends its decisions for shared accounts while the other
    worker does the same, then waits until its caps and SRM units count both workers'."""
    both = MemoryDecisionLog()
    for d in _worker_decisions(0) + _worker_decisions(1):
        both.append(d)
    accounts = [f"ac1_{a}" for a in range(7)]
    log = SqliteDecisionLog(Path(path), flush_interval_s=0.01)
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


def test_two_processes_share_the_log_and_each_write_lands_once(tmp_path: Path) -> None:
    path = tmp_path / "decisions.sqlite"
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(2)
    procs = [
        spawn.Process(target=_append_and_wait_for_the_other, args=(str(path), w, ready))
        for w in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    log = SqliteDecisionLog(path)
    try:
        rows = log.query("SELECT decision_id, session_id FROM decisions")
        assert len(rows) == 2 * PER_PROCESS
        assert len({r[0] for r in rows}) == len({r[1] for r in rows}) == 2 * PER_PROCESS
        units = log.exposure_units()
        assert units[("universal", "control")] + units[("universal", "eligible")] == 7
    finally:
        log.close()
