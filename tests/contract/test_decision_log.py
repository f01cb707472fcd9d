"""One contract for every DecisionLog: get by id, contacts per account in time order,
SRM exposure units per distinct account; the DuckDB log survives a reopen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netcx.adapters.decisions.duckdb_log import DuckDBDecisionLog
from netcx.adapters.decisions.memory_log import MemoryDecisionLog
from netcx.domain.decisions.engine import Decision, DecisionEngine
from netcx.ports import DecisionLog
from tests.unit.decisions.helpers import NOW, ctx, default_policy, line_visitor

ENGINE = DecisionEngine(default_policy())


def decision(i: int, account: str, at_ms: int, session: str) -> Decision:
    c = ctx(
        ("churn_research", 0.9), recognition=line_visitor(account), at_ms=at_ms, session_id=session
    )
    return ENGINE.decide(c, [], f"dc_{at_ms:013x}{i:012x}")


@pytest.fixture(params=["memory", "duckdb"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], DecisionLog]]:
    opened: list[DecisionLog] = []

    def make() -> DecisionLog:
        log: DecisionLog = (
            MemoryDecisionLog()
            if request.param == "memory"
            else DuckDBDecisionLog(tmp_path / "decisions.duckdb", flush_interval_s=0.05)
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


def test_duckdb_log_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "decisions.duckdb"
    log = DuckDBDecisionLog(path)
    d = decision(1, "ac1_a", NOW, "s1")
    log.append(d)
    log.close()
    again = DuckDBDecisionLog(path)
    try:
        assert again.get(d.decision_id) == d
        assert len(again.contacts("ac1_a", 0)) == 1
        rows = again.query("SELECT account_id, experiences, shown FROM decisions")
        assert rows == [("ac1_a", "retention_save_offer,retention_follow_up", bool(d.shown))]
    finally:
        again.close()


def test_one_session_is_one_contact(make_log: Callable[[], DecisionLog]) -> None:
    log = make_log()
    for i in range(50):  # fifty page views of one session
        log.append(decision(i, "ac1_a", NOW + i * 1000, "same-session"))
    contacts = log.contacts("ac1_a", 0)
    assert len(contacts) == 1 and contacts[0].at_ms == NOW + 49_000


def test_duckdb_log_keeps_flushed_decisions_across_a_crash(tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "decisions.duckdb"
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from netcx.adapters.decisions.duckdb_log import DuckDBDecisionLog
        from tests.contract.test_decision_log import decision
        import time
        log = DuckDBDecisionLog(Path({str(path)!r}), flush_interval_s=0.05)
        for i in range(5):
            log.append(decision(i, "ac1_a", {NOW} + i, f"s{{i}}"))
        time.sleep(1.0)  # longer than the flush interval
        os._exit(1)  # no close: the process dies
        """
    )
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", script], cwd=root, check=False, timeout=60)
    log = DuckDBDecisionLog(path)
    try:
        assert len(log.contacts("ac1_a", 0)) == 5
        assert log.query("SELECT count(*) FROM decisions") == [(5,)]
    finally:
        log.close()


def test_duckdb_log_ingests_a_segment_left_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "decisions.duckdb"
    DuckDBDecisionLog(path).close()
    from netcx.adapters.decisions.duckdb_log import _line

    d = decision(1, "ac1_z", NOW, "s1")
    (tmp_path / "decisions.duckdb.segments" / "123-000000007.ndjson").write_bytes(_line(d))
    log = DuckDBDecisionLog(path)
    try:
        assert log.get(d.decision_id) == d
        assert list((tmp_path / "decisions.duckdb.segments").iterdir()) == []
    finally:
        log.close()
