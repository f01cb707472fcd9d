"""AuditLog contract: append, read by subject/time, erase a subject, purge by age."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netcx.domain.privacy import AuditAction, AuditRecord
from netcx.ports import AuditLog
from tests.contract.privacy_backends import (  # noqa: F401
    BACKENDS,
    open_port,
    postgres_url,
    redis_url,
)

A, B = "vi1_" + "a" * 24, "vi1_" + "b" * 24


@pytest.fixture(params=BACKENDS)
def audit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditLog]:
    with open_port("audit", request.param, tmp_path, request) as adapter:
        yield adapter


def rec(subject: str, at_ms: int, **kw: object) -> AuditRecord:
    return AuditRecord(at_ms, AuditAction.RESOLVE, "web", subject=subject, **kw)  # type: ignore[arg-type]


def test_read_by_subject_and_time_oldest_first(audit: AuditLog) -> None:
    r1 = rec(
        A, 10, purpose="personalisation", outcome="network_line", evidence=("ev1_" + "c" * 24,)
    )
    r2, r3 = rec(B, 20), rec(A, 30, reason="no_consent")
    audit.append([r3, r1])
    audit.append([r2])
    assert audit.read(A) == [r1, r3]
    assert audit.read() == [r1, r2, r3]
    assert audit.read(since_ms=20) == [r2, r3]
    assert audit.read(limit=1) == [r1]
    assert audit.read("vi1_" + "0" * 24) == []


def test_erase_subject_and_purge(audit: AuditLog) -> None:
    audit.append([rec(A, 10), rec(A, 300), rec(B, 20), rec(B, 400)])
    audit.append([])
    assert audit.erase_subject(A) == 2
    assert audit.read(A) == []
    assert audit.purge(100) == 1
    assert audit.read() == [rec(B, 400)]


def test_records_without_subject_are_kept_and_read(audit: AuditLog) -> None:
    r = AuditRecord(5, AuditAction.PURGE, "cli", outcome="network_edges=3")
    audit.append([r])
    assert audit.read() == [r]
    assert audit.erase_subject(A) == 0
