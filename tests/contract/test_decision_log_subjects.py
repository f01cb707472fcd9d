"""Export and erasure of a subject's decisions (by visitor or account) in every DecisionLog;
with SQLite and PostgreSQL, another process's index forgets the erased decisions too."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.adapters.decisions.postgres_log import PostgresDecisionLog
from netcx.adapters.decisions.sqlite_log import SqliteDecisionLog
from netcx.adapters.storage._postgres import Postgres
from netcx.domain.decisions.engine import Decision, DecisionEngine
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.ports import DecisionLogData
from netcx.services.privacy import DecisionLogSubjects
from tests.contract.privacy_backends import postgres_url  # noqa: F401
from tests.unit.decisions.helpers import NOW, ctx, default_policy, line_visitor

ENGINE = DecisionEngine(default_policy())
P = Pseudonymizer({"k1": b"old", "k2": b"new"}, "k2")


def decision(i: int, account: str, visitor: str | None = None) -> Decision:
    c = ctx(
        ("churn_research", 0.9),
        recognition=line_visitor(account),
        at_ms=NOW + i * 1000,
        session_id=f"s{i}",
    )
    d = ENGINE.decide(c, [], f"dc_{i:012x}")
    return msgspec.structs.replace(d, visitor_id=visitor)


def eventually(check: Callable[[], bool], timeout_s: float = 5) -> None:
    """The SQLite log flushes every 50 ms here: wait for another process to see it."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.02)


def _empty_postgres(url: str) -> str:
    db = Postgres(url, pool_size=1)
    db.migrate()
    db.run("truncate", lambda c: c.execute("TRUNCATE decisions, decision_erasures"))
    db.close()
    return url


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_log(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], DecisionLogData]]:
    opened: list[DecisionLogData] = []
    memory = MemoryDecisionLog()
    url = (
        _empty_postgres(request.getfixturevalue("postgres_url"))
        if request.param == "postgres"
        else ""
    )

    def make() -> DecisionLogData:
        log: DecisionLogData
        if request.param == "memory":
            log = memory
        elif request.param == "sqlite":
            log = SqliteDecisionLog(
                tmp_path / "decisions.sqlite", flush_interval_s=0.05, catch_up_interval_s=0
            )
        else:
            db = Postgres(url, pool_size=2)
            db.migrate()
            log = PostgresDecisionLog(db, sync_interval_s=0.05)
        opened.append(log)
        return log

    yield make
    for log in opened:
        log.close()


def test_a_subjects_decisions_are_exported_and_erased(
    make_log: Callable[[], DecisionLogData],
) -> None:
    log, other_process = make_log(), make_log()
    ds = [decision(i, "ac1_gone" if i % 2 else "ac1_kept") for i in range(6)]
    ds.append(decision(6, "ac1_kept", visitor="cookie-gone"))  # the log keeps raw cookies
    for d in ds:
        log.append(d)
    subjects = DecisionLogSubjects(log, P)
    assert subjects.name == "decisions"
    eventually(lambda: len(other_process.contacts("ac1_gone", 0)) == 3)
    before = other_process.exposure_units()

    exported = subjects.export_subject(["ac1_gone"])
    assert sorted(d["decision_id"] for d in exported) == [ds[i].decision_id for i in (1, 3, 5)]
    # a visitor pseudonym under an older key still finds its decisions
    old = P.pseudonym(IdKind.VISITOR, "cookie-gone", version="k1")
    assert [d["decision_id"] for d in subjects.export_subject([old])] == [ds[6].decision_id]

    assert subjects.erase_subject(["ac1_gone", old]) == 4
    assert subjects.erase_subject(["ac1_gone", old]) == 0
    for view in (log, other_process):  # the other process rebuilds its index at its next look
        eventually(lambda view=view: view.contacts("ac1_gone", 0) == [])  # type: ignore[misc]
        assert view.get(ds[1].decision_id) is None and view.get(ds[6].decision_id) is None
        assert len(view.contacts("ac1_kept", 0)) == 3
        assert DecisionLogSubjects(view, P).export_subject(["ac1_gone"]) == []
    after = other_process.exposure_units()
    assert sum(after.values()) < sum(before.values())
    log.append(decision(7, "ac1_gone"))  # a later decision is logged as usual
    eventually(lambda: len(other_process.contacts("ac1_gone", 0)) == 1)
