"""PostgreSQL for the durable stores: a connection pool, versioned migrations, retried writes.

Migrations are the numbered SQL files in `postgres_migrations/` (`0001_name.sql` …), applied
in order in one transaction together with their rows in `schema_version`; an advisory lock
lets several workers start at once without applying a migration twice.

Every statement runs through `Postgres.run`, which retries on a lost connection (server
restart, failover) with bounded exponential backoff. A write that may have committed before
its acknowledgement was lost is retried too, so writes are idempotent: upserts by key, or
appends carrying a client-made id with `ON CONFLICT DO NOTHING`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from netcx.errors import ConfigError, Unavailable

log = logging.getLogger("netcx.postgres")

T = TypeVar("T")
Conn = psycopg.Connection[Any]

_MIGRATION = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x6E657463  # "netc": serialises migrations across workers

_SCHEMA_VERSION = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The packaged migrations, in version order (a gap or duplicate is a packaging bug)."""
    folder = resources.files("netcx.adapters.storage") / "postgres_migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        m = _MIGRATION.match(entry.name)
        if m:
            found.append(Migration(int(m[1]), m[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda x: x.version)
    expected = list(range(1, len(found) + 1))
    if [x.version for x in found] != expected:
        raise ConfigError(f"postgres migrations must be numbered 1..n without gaps: {found}")
    return found


def _backoff(initial_s: float, max_s: float) -> Iterator[float]:
    delay = initial_s
    while True:
        yield delay
        delay = min(delay * 2, max_s)


class Postgres:
    """A pool on one database plus the retry policy every adapter uses."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        retry_budget_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._retry_budget_s = retry_budget_s
        self._sleep = sleep
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "connect_timeout": 5},
            name="netcx",
        )
        # Opening does not wait for a server: the first statement retries until one answers.
        self.pool.open(wait=False)

    def run(self, what: str, work: Callable[[Conn], T]) -> T:
        """`work(conn)` in one transaction; retried while the server is unreachable (the pool
        waits for a fresh connection; a connection lost mid-statement is retried here)."""
        deadline = time.monotonic() + self._retry_budget_s
        delays = _backoff(0.05, 2.0)
        attempt = 0
        while True:
            attempt += 1
            try:
                wait_s = max(0.5, deadline - time.monotonic())
                with self.pool.connection(timeout=wait_s) as conn, conn.transaction():
                    return work(conn)
            except psycopg.OperationalError as err:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unavailable(
                        f"postgres: {what} failed after {attempt} attempts: {err}"
                    ) from err
                delay = min(next(delays), left)
                log.warning(
                    "postgres_retry what=%s attempt=%d delay_s=%.2f error=%s",
                    what,
                    attempt,
                    delay,
                    type(err).__name__,
                )
                self._sleep(delay)

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet; return their versions."""

        def apply(conn: Conn) -> list[int]:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_ID])
            conn.execute(_SCHEMA_VERSION)
            done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version")}
            applied = []
            for m in migrations():
                if m.version in done:
                    continue
                conn.execute(m.sql.encode())
                conn.execute(
                    "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                    [m.version, m.name],
                )
                applied.append(m.version)
            return applied

        applied = self.run("migrate", apply)
        if applied:
            log.info("postgres_migrated versions=%s", applied)
        return applied

    def schema_version(self) -> int:
        """The highest applied migration (0 on an empty database)."""

        def read(conn: Conn) -> int:
            exists = conn.execute("SELECT to_regclass('schema_version')").fetchone()
            if exists is None or exists[0] is None:
                return 0
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            return int(row[0]) if row else 0

        return self.run("schema_version", read)

    def close(self) -> None:
        self.pool.close()
