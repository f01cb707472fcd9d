"""ConsentLedger contract: append-only history per subject, erasure, retention purge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netcx.domain.consent import ConsentDecision, Purpose, is_granted
from netcx.ports import ConsentLedger
from tests.contract.privacy_backends import (  # noqa: F401
    BACKENDS,
    open_port,
    postgres_url,
    redis_url,
)

A, B = "vi1_" + "a" * 24, "ln1_" + "b" * 24


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConsentLedger]:
    with open_port("consent", request.param, tmp_path, request) as adapter:
        yield adapter


def decision(subject: str, purpose: Purpose, granted: bool, at_ms: int) -> ConsentDecision:
    return ConsentDecision(subject, purpose, granted, at_ms, "api", "v3")


def test_history_keeps_recording_order(ledger: ConsentLedger) -> None:
    ds = [
        decision(A, Purpose.ANALYTICS, True, 10),
        decision(A, Purpose.PERSONALISATION, True, 20),
        decision(A, Purpose.PERSONALISATION, False, 20),
        decision(B, Purpose.NUMBER_VERIFICATION, True, 5),
    ]
    for d in ds:
        ledger.append(d)
    assert ledger.history(A) == ds[:3]
    assert ledger.history(B) == ds[3:]
    assert ledger.history("vi1_" + "0" * 24) == []
    # same-millisecond grant then revoke: the revocation (recorded last) is in force
    assert not is_granted(ledger.history(A), Purpose.PERSONALISATION)


def test_histories_match_history(ledger: ConsentLedger) -> None:
    ledger.append(decision(A, Purpose.ANALYTICS, True, 1))
    ledger.append(decision(B, Purpose.MARKETING, False, 2))
    ledger.append(decision(A, Purpose.ANALYTICS, False, 3))
    subjects = [A, B, "vi1_" + "0" * 24]
    assert ledger.histories(subjects) == {s: ledger.history(s) for s in subjects}
    assert ledger.histories([]) == {}


def test_erase_subject_removes_only_that_subject(ledger: ConsentLedger) -> None:
    ledger.append(decision(A, Purpose.ANALYTICS, True, 1))
    ledger.append(decision(A, Purpose.MARKETING, False, 2))
    ledger.append(decision(B, Purpose.ANALYTICS, True, 1))
    assert ledger.erase_subject(A) == 2
    assert ledger.history(A) == []
    assert len(ledger.history(B)) == 1


def test_purge_keeps_the_decision_in_force(ledger: ConsentLedger) -> None:
    old_grant = decision(A, Purpose.MARKETING, True, 10)
    old_revoke = decision(A, Purpose.MARKETING, False, 20)
    only = decision(A, Purpose.ANALYTICS, True, 5)
    recent = decision(A, Purpose.PERSONALISATION, True, 500)
    replaced = decision(B, Purpose.ANALYTICS, True, 30)
    for d in (
        old_grant,
        old_revoke,
        only,
        recent,
        replaced,
        decision(B, Purpose.ANALYTICS, False, 400),
    ):
        ledger.append(d)
    assert ledger.purge(100) == 2
    assert ledger.history(A) == [old_revoke, only, recent]
    assert [d.at_ms for d in ledger.history(B)] == [400]


def test_embedded_ledger_reads_what_another_process_changed(tmp_path: Path) -> None:
    """The embedded ledger keeps the histories it read; a decision, an erasure or a purge
    by another process (another connection to the file) is seen by the next read."""
    import subprocess
    import sys

    from netcx.adapters.storage.sqlite_consent import SqliteConsentLedger

    path = tmp_path / "consent.sqlite"
    follower, worker = SqliteConsentLedger(path), SqliteConsentLedger(path)
    try:
        follower.append(decision(A, Purpose.ANALYTICS, True, 1))
        assert follower.histories([A, B]) == {A: [decision(A, Purpose.ANALYTICS, True, 1)], B: []}
        follower.append(decision(A, Purpose.MARKETING, True, 2))  # its own write: kept too
        worker.append(decision(B, Purpose.ANALYTICS, True, 3))
        worker.append(decision(A, Purpose.ANALYTICS, False, 4))
        assert follower.histories([A, B]) == {s: worker.history(s) for s in (A, B)}
        assert not is_granted(follower.histories([A])[A], Purpose.ANALYTICS)

        code = (
            "import sys; from pathlib import Path; "
            "from netcx.adapters.storage.sqlite_consent import SqliteConsentLedger; "
            "from netcx.domain.consent import ConsentDecision, Purpose; "
            "l = SqliteConsentLedger(Path(sys.argv[1])); "
            "l.append(ConsentDecision(sys.argv[2], Purpose.ANALYTICS, True, 5, 'api', 'v3')); "
            "l.close()"
        )
        subprocess.run([sys.executable, "-c", code, str(path), B], check=True, timeout=60)
        assert follower.histories([B])[B][-1] == decision(B, Purpose.ANALYTICS, True, 5)

        worker.erase_subject(A)
        assert follower.histories([A, B])[A] == []
        worker.purge(before_ms=10)  # keeps the decision in force per purpose
        assert follower.histories([B]) == {B: [decision(B, Purpose.ANALYTICS, True, 5)]}
    finally:
        follower.close()
        worker.close()
