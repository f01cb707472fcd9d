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
