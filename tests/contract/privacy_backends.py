"""Backends of the identity, consent and audit ports, for their contract suites.

Every suite is parametrised over BACKENDS; the Redis case starts one real redis-server per
test session (marked `redis`) and flushes it between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.servers import redis_server

BACKENDS = [
    pytest.param("memory"),
]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@contextmanager
def open_port(port: str, backend: str, tmp: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An empty adapter for `port` (identity | consent | audit) on `backend`."""
    if backend == "memory":
        from netcx.adapters.storage.memory_audit import MemoryAuditLog
        from netcx.adapters.storage.memory_consent import MemoryConsentLedger
        from netcx.adapters.storage.memory_identity import MemoryIdentityStore

        memory: dict[str, Any] = {
            "identity": MemoryIdentityStore,
            "consent": MemoryConsentLedger,
            "audit": MemoryAuditLog,
        }
        yield memory[port]()
        return
    raise AssertionError(f"unknown backend {backend}")
