"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netcx.adapters.auth.jwks import FileJwks, HttpJwks, JwtAccessTokenVerifier
from netcx.adapters.camara.audit import JsonlAuditLog
from netcx.adapters.camara.fixture import FixtureLines
from netcx.adapters.storage.eventlog_memory import MemoryEventLog
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.config import Settings
from netcx.domain.privacy import RetentionPolicy
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.errors import ConfigError
from netcx.ports import (
    AuditLog,
    ConsentLedger,
    EventLog,
    IdentityStore,
    LineDirectory,
    NumberVerificationAudit,
    NumberVerificationConsent,
    Recognizer,
    Resolver,
)
from netcx.services.collect import Collector, NullRecognizer
from netcx.services.identity import IdentityService
from netcx.services.number_verification import NumberVerificationService

if TYPE_CHECKING:
    from netcx.adapters.bus.forwarder import SegmentForwarder
    from netcx.adapters.storage._postgres import Postgres
    from netcx.adapters.storage.redis_online import RedisBindingHotSet
    from netcx.ports import EventBus, ResolvedEvents

log = logging.getLogger(__name__)


@dataclass
class Container:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    pseudonymizer: Pseudonymizer

    # ------------------------------------------------------------ network identity

    # ------------------------------------------------------------ collector, identity, consent
    event_log: EventLog
    recognizer: Recognizer
    collector: Collector
    identity: IdentityService

    # ------------------------------------------------------------ intents

    # ------------------------------------------------------------ decisions and triggers

    # ------------------------------------------------------------ CAMARA Number Verification
    number_verification: NumberVerificationService | None = None


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
    builders: dict[str, Callable[[Settings], tuple[IdentityStore, ConsentLedger, AuditLog]]] = {
        "duckdb": _duckdb_identity_stores,
        "redis": _redis_identity_stores,
        "postgres": _postgres_identity_stores,
        "memory": _memory_identity_stores,
    }
    return builders[settings.identity.store](settings)


def _duckdb_identity_stores(settings: Settings) -> tuple[IdentityStore, ConsentLedger, AuditLog]:
    from netcx.adapters.storage.duckdb_audit import DuckDBAuditLog
    from netcx.adapters.storage.duckdb_consent import DuckDBConsentLedger
    from netcx.adapters.storage.duckdb_identity import DuckDBIdentityStore

    folder = settings.storage.data_dir / "identity"
    return (
        DuckDBIdentityStore(folder / "graph.duckdb"),
        DuckDBConsentLedger(folder / "consent.duckdb"),
        DuckDBAuditLog(folder / "audit.duckdb"),
    )


def _redis_identity_stores(settings: Settings) -> tuple[IdentityStore, ConsentLedger, AuditLog]:
    from netcx.adapters.storage._redis import client
    from netcx.adapters.storage.redis_audit import RedisAuditLog
    from netcx.adapters.storage.redis_consent import RedisConsentLedger
    from netcx.adapters.storage.redis_identity import RedisIdentityStore

    r = client(settings.identity.redis_url)
    prefix = settings.identity.redis_prefix
    return RedisIdentityStore(r, prefix), RedisConsentLedger(r, prefix), RedisAuditLog(r, prefix)


def _postgres_identity_stores(settings: Settings) -> tuple[IdentityStore, ConsentLedger, AuditLog]:
    from netcx.adapters.storage.postgres_audit import PostgresAuditLog
    from netcx.adapters.storage.postgres_consent import PostgresConsentLedger
    from netcx.adapters.storage.postgres_identity import PostgresIdentityStore

    db = build_postgres(settings)
    db.migrate()
    return PostgresIdentityStore(db), PostgresConsentLedger(db), PostgresAuditLog(db)


def _memory_identity_stores(settings: Settings) -> tuple[IdentityStore, ConsentLedger, AuditLog]:
    from netcx.adapters.storage.memory_audit import MemoryAuditLog
    from netcx.adapters.storage.memory_consent import MemoryConsentLedger
    from netcx.adapters.storage.memory_identity import MemoryIdentityStore

    return MemoryIdentityStore(), MemoryConsentLedger(), MemoryAuditLog()


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


def build_number_verification(
    settings: Settings,
    resolver: Resolver | None = None,
    directory: LineDirectory | None = None,
    consent: NumberVerificationConsent | None = None,
    audit: NumberVerificationAudit | None = None,
) -> NumberVerificationService | None:
    """The CAMARA Number Verification service, or None when `camara.issuer` is not set.

    `camara.fixture_file` replaces resolver, line directory and consent with a fixture
    (tests, demos). The audit log defaults to <data_dir>/audit/camara.jsonl.
    """
    cfg = settings.camara
    if not cfg.issuer:
        return None
    if cfg.jwks_file is not None:
        jwks: FileJwks | HttpJwks = FileJwks(cfg.jwks_file)
    else:
        assert cfg.jwks_url is not None  # CamaraSettings checks exactly one is set
        jwks = HttpJwks(cfg.jwks_url, ttl_s=cfg.jwks_ttl_s, now_s=time.monotonic)
    tokens = JwtAccessTokenVerifier(
        jwks,
        cfg.issuer,
        cfg.audience,
        now_s=lambda: int(time.time()),
        algorithms=cfg.algorithms,
        leeway_s=cfg.leeway_s,
    )
    if cfg.fixture_file is not None:
        log.warning("camara: lines, bindings and consents come from fixture_file (test data)")
        resolver = directory = consent = FixtureLines.from_file(cfg.fixture_file)
    if resolver is None or directory is None or consent is None:
        raise ConfigError(
            "camara.issuer is set but no resolver, line directory and consent ledger are "
            "wired for the Number Verification API (camara.fixture_file gives test data)"
        )
    return NumberVerificationService(
        tokens,
        resolver,
        directory,
        consent,
        audit or JsonlAuditLog(settings.storage.data_dir / "audit" / "camara.jsonl"),
        network_amr=cfg.network_amr,
        now_ms=lambda: time.time_ns() // 1_000_000,
    )


def build_event_log(settings: Settings) -> EventLog:
    """The collector's event log, by `collect.event_log`."""
    c = settings.collect
    builders: dict[str, Callable[[], EventLog]] = {
        "segments": lambda: SegmentEventLog(
            settings.storage.data_dir / "events",
            fsync=c.fsync,
            fsync_interval_ms=c.fsync_interval_ms,
            segment_bytes=c.segment_bytes,
        ),
        "memory": MemoryEventLog,
    }
    return builders[c.event_log]()


def build_recognizer(settings: Settings) -> Recognizer:
    """Who sent an event; the identity graph replaces the null recognizer."""
    return NullRecognizer()


def build_container(settings: Settings) -> Container:
    """Build the object graph for `settings` (backends chosen by name in config)."""
    pseudonymizer = build_pseudonymizer(settings)
    event_log = build_event_log(settings)
    recognizer = build_recognizer(settings)
    return Container(
        settings=settings,
        pseudonymizer=pseudonymizer,
        event_log=event_log,
        recognizer=recognizer,
        collector=Collector(event_log, recognizer),
        identity=build_identity_service(settings, pseudonymizer),
        number_verification=build_number_verification(settings),
    )


# ---------------------------------------------------------------- scale-out (docs/scaling.md)


def build_postgres(settings: Settings) -> Postgres:
    """The PostgreSQL pool of the durable stores (`migrate()` brings its schema up to date)."""
    from netcx.adapters.storage._postgres import Postgres

    pg = settings.scale.postgres
    return Postgres(pg.url, pool_size=pg.pool_size, retry_budget_s=pg.retry_budget_s)


def build_event_bus(settings: Settings) -> EventBus:
    """Where stored events are forwarded to and consumed from, by `scale.bus.backend`."""
    bus = settings.scale.bus

    def kafka() -> EventBus:
        from netcx.adapters.bus.kafka import KafkaEventBus

        return KafkaEventBus(bus.kafka_bootstrap, bus.topic, bus.partitions)

    def redis() -> EventBus:
        from netcx.adapters.bus.redis_streams import RedisStreamsEventBus

        return RedisStreamsEventBus(bus.redis_url, bus.topic, bus.partitions, bus.redis_prefix)

    def none() -> EventBus:
        raise ConfigError("scale.bus.backend is `none`: set it to `kafka` or `redis`")

    builders: dict[str, Callable[[], EventBus]] = {"kafka": kafka, "redis": redis, "none": none}
    return builders[bus.backend]()


def build_forwarder(settings: Settings, pseudonymizer: Pseudonymizer) -> SegmentForwarder:
    """Drains the collector's segment log (<data_dir>/events) to the event bus."""
    from netcx.adapters.bus.forwarder import SegmentForwarder

    bus = settings.scale.bus
    return SegmentForwarder(
        settings.storage.data_dir / "events",
        build_event_bus(settings),
        pseudonymizer,
        batch_size=bus.batch_size,
        recognition_wait_ms=bus.recognition_wait_ms,
    )


def build_online_state(
    settings: Settings, pseudonymizer: Pseudonymizer
) -> tuple[Resolver, ResolvedEvents]:
    """The bus workers' resolver and answer store, by `scale.online.store`."""
    online = settings.scale.online

    def redis() -> tuple[Resolver, ResolvedEvents]:
        from netcx.adapters.storage._redis import client
        from netcx.adapters.storage.redis_online import RedisResolvedEvents

        r = client(online.redis_url)
        answers = RedisResolvedEvents(r, online.redis_prefix, online.answers_ttl_s)
        return build_binding_hot_set(settings, pseudonymizer), answers

    def memory() -> tuple[Resolver, ResolvedEvents]:
        from netcx.adapters.storage.memory_online import MemoryResolvedEvents

        return build_identity_resolver(settings, pseudonymizer), MemoryResolvedEvents()

    builders: dict[str, Callable[[], tuple[Resolver, ResolvedEvents]]] = {
        "redis": redis,
        "memory": memory,
    }
    return builders[online.store]()


def build_binding_hot_set(settings: Settings, pseudonymizer: Pseudonymizer) -> RedisBindingHotSet:
    """The hot set of network bindings on Redis (`scale.online.store = redis`)."""
    from netcx.adapters.storage._redis import client
    from netcx.adapters.storage.redis_online import RedisBindingHotSet

    online = settings.scale.online
    if online.store != "redis":
        raise ConfigError("the binding hot set needs scale.online.store = redis")
    return RedisBindingHotSet(
        client(online.redis_url), pseudonymizer, online.redis_prefix, online.bindings_ttl_s
    )
