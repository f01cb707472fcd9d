"""Backends of the identity, consent and audit ports, for their contract suites.

Every suite is parametrised over BACKENDS; the Redis case starts one real redis-server per
test session (marked `redis`) and flushes it between tests; the PostgreSQL case starts one
real PostgreSQL 15 per session (marked `postgres`), migrates it and truncates between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.servers import postgres_server, redis_server

BACKENDS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as server:
        yield server.url


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
    if backend == "sqlite":
        from netcx.adapters.storage.sqlite_audit import SqliteAuditLog
        from netcx.adapters.storage.sqlite_consent import SqliteConsentLedger
        from netcx.adapters.storage.sqlite_identity import SqliteIdentityStore

        embedded: dict[str, Any] = {
            "identity": SqliteIdentityStore,
            "consent": SqliteConsentLedger,
            "audit": SqliteAuditLog,
        }
        adapter = embedded[port](tmp / f"{port}.sqlite")
        try:
            yield adapter
        finally:
            adapter.close()
        return
    if backend == "redis":
        from netcx.adapters.storage._redis import client
        from netcx.adapters.storage.redis_audit import RedisAuditLog
        from netcx.adapters.storage.redis_consent import RedisConsentLedger
        from netcx.adapters.storage.redis_identity import RedisIdentityStore

        r = client(request.getfixturevalue("redis_url"))
        r.flushdb()
        red: dict[str, Any] = {
            "identity": RedisIdentityStore,
            "consent": RedisConsentLedger,
            "audit": RedisAuditLog,
        }
        try:
            yield red[port](r, prefix="t")
        finally:
            r.close()
        return
    if backend == "postgres":
        from netcx.adapters.storage._postgres import Postgres
        from netcx.adapters.storage.postgres_audit import PostgresAuditLog
        from netcx.adapters.storage.postgres_consent import PostgresConsentLedger
        from netcx.adapters.storage.postgres_identity import PostgresIdentityStore

        db = Postgres(request.getfixturevalue("postgres_url"), pool_size=2)
        db.migrate()
        db.run(
            "truncate",
            lambda c: c.execute("TRUNCATE identity_edges, consent_decisions, audit_records"),
        )
        pg: dict[str, Any] = {
            "identity": PostgresIdentityStore,
            "consent": PostgresConsentLedger,
            "audit": PostgresAuditLog,
        }
        try:
            yield pg[port](db)
        finally:
            db.close()
        return
    raise AssertionError(f"unknown backend {backend}")
