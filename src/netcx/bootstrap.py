"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from netcx.config import Settings
from netcx.domain.privacy import RetentionPolicy
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.ports import AuditLog, ConsentLedger, IdentityStore, Resolver
from netcx.services.identity import IdentityService


@dataclass
class Container:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    pseudonymizer: Pseudonymizer

    # ------------------------------------------------------------ network identity

    # ------------------------------------------------------------ collector, identity, consent
    identity: IdentityService

    # ------------------------------------------------------------ intents

    # ------------------------------------------------------------ decisions and triggers


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def build_pseudonymizer(settings: Settings) -> Pseudonymizer:
    keys = {v: k.get_secret_value().encode() for v, k in settings.pseudonyms.keys.items()}
    schedule = {v: int(t.timestamp() * 1000) for v, t in settings.pseudonyms.activations.items()}
    current = settings.pseudonyms.current
    if schedule:  # with a rotation schedule, the key in force at start-up is current
        current = Pseudonymizer(keys, current, schedule).version_at(now_ms())
    return Pseudonymizer(keys, current, schedule)


def build_identity_stores(settings: Settings) -> tuple[IdentityStore, ConsentLedger, AuditLog]:
    """The identity graph, consent ledger and audit log, by `identity.store`."""
    ident = settings.identity
    if ident.store == "redis":
        from netcx.adapters.storage._redis import client
        from netcx.adapters.storage.redis_audit import RedisAuditLog
        from netcx.adapters.storage.redis_consent import RedisConsentLedger
        from netcx.adapters.storage.redis_identity import RedisIdentityStore

        r = client(ident.redis_url)
        prefix = ident.redis_prefix
        return (
            RedisIdentityStore(r, prefix),
            RedisConsentLedger(r, prefix),
            RedisAuditLog(r, prefix),
        )
    if ident.store == "memory":
        from netcx.adapters.storage.memory_audit import MemoryAuditLog
        from netcx.adapters.storage.memory_consent import MemoryConsentLedger
        from netcx.adapters.storage.memory_identity import MemoryIdentityStore

        return MemoryIdentityStore(), MemoryConsentLedger(), MemoryAuditLog()
    from netcx.adapters.storage.sqlite_audit import SqliteAuditLog
    from netcx.adapters.storage.sqlite_consent import SqliteConsentLedger
    from netcx.adapters.storage.sqlite_identity import SqliteIdentityStore

    folder = settings.storage.data_dir / "identity"
    return (
        SqliteIdentityStore(folder / "graph.sqlite"),
        SqliteConsentLedger(folder / "consent.sqlite"),
        SqliteAuditLog(folder / "audit.sqlite"),
    )


def build_identity_resolver(settings: Settings, pseudonymizer: Pseudonymizer) -> Resolver:
    """Stand-in until the network resolver is wired here: static bindings, or none."""
    from netcx.adapters.storage.static_bindings import NoResolver, StaticBindingResolver

    path = settings.identity.static_bindings
    return NoResolver() if path is None else StaticBindingResolver(path, pseudonymizer)


def build_identity_service(
    settings: Settings,
    pseudonymizer: Pseudonymizer,
    resolver: Resolver | None = None,
    clock_ms: Callable[[], int] = now_ms,
) -> IdentityService:
    from netcx.adapters.storage.null_intents import NoRecentIntents

    store, consent, audit = build_identity_stores(settings)
    return IdentityService(
        store=store,
        consent=consent,
        audit=audit,
        resolver=resolver or build_identity_resolver(settings, pseudonymizer),
        pseudonymizer=pseudonymizer,
        clock_ms=clock_ms,
        intents=NoRecentIntents(),
        network_edge_ttl_s=settings.identity.network_edge_ttl_s,
        retention=RetentionPolicy.from_days(settings.identity.retention_days),
    )


def build_container(settings: Settings) -> Container:
    """Build the object graph for `settings` (backends chosen by name in config)."""
    pseudonymizer = build_pseudonymizer(settings)
    return Container(
        settings=settings,
        pseudonymizer=pseudonymizer,
        identity=build_identity_service(settings, pseudonymizer),
    )
