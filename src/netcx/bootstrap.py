"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from netcx.adapters.auth.jwks import FileJwks, HttpJwks, JwtAccessTokenVerifier
from netcx.adapters.camara.audit import JsonlAuditLog
from netcx.adapters.camara.crm_directory import CrmLineDirectory
from netcx.adapters.camara.fixture import FixtureLines
from netcx.adapters.cgnat.files import read_cgnat_file
from netcx.adapters.radius.detail import read_radius_file
from netcx.adapters.radius.listener import REMEMBERED, AccountingListener
from netcx.adapters.storage.bindings_audit import FileResolveAudit
from netcx.adapters.storage.bindings_config import lines_from_table, load_network_config
from netcx.adapters.storage.bindings_duckdb import DuckDbBatchResolver
from netcx.adapters.storage.bindings_journal import FileJournal
from netcx.adapters.storage.bindings_packed import PackedBlockBase
from netcx.adapters.storage.eventlog_follower import FollowerPacing, RecognitionFollower
from netcx.adapters.storage.eventlog_memory import MemoryEventLog
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.adapters.storage.intent_state_memory import MemoryIntentStateStore
from netcx.adapters.storage.intent_state_redis import RedisIntentStateStore
from netcx.adapters.storage.intent_state_sqlite import SqliteIntentStateStore
from netcx.config import Settings
from netcx.domain.network.config import NetworkConfig
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory as NetworkLineDirectory
from netcx.domain.network.plan import AddressPlan
from netcx.domain.network.records import AccountingRecord, BlockEvent
from netcx.domain.privacy import RetentionPolicy
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.errors import ConfigError, ParseError
from netcx.ports import (
    AuditLog,
    ConsentLedger,
    CustomerFactsSource,
    DeadLetterStore,
    DecisionLog,
    DecisionLogData,
    DeliveredTriggers,
    EventLog,
    IdentityStore,
    IntentStateData,
    IntentStateStore,
    LineDirectory,
    NetworkLogReader,
    NumberVerificationAudit,
    NumberVerificationConsent,
    RecentIntents,
    RecognitionSource,
    Recognizer,
    ResolveAudit,
    ResolveConsentGate,
    Resolver,
    SessionIntentSource,
    SubjectData,
    TriggerBus,
    TriggerSink,
    TriggerTransport,
    World,
)
from netcx.services.bus_workers import OnceTransport, TriggerDelivery
from netcx.services.collect import Collector
from netcx.services.decisions import CustomerFactsIndex, DecisionService, load_policy_file
from netcx.services.identity import ConsentGate, IdentityService
from netcx.services.intents import IntentService, load_taxonomy
from netcx.services.network import NetworkService, build_resolver
from netcx.services.number_verification import NumberVerificationService
from netcx.services.pipeline import PipelineDeps
from netcx.services.realtime import DecisionSources, EventRecognizer, IntentNotes, LineConsent

if TYPE_CHECKING:
    from netcx.adapters.bus.forwarder import SegmentForwarder
    from netcx.adapters.storage._postgres import Postgres
    from netcx.adapters.storage.redis_online import RedisBindingHotSet
    from netcx.ports import EventBus, ResolvedEvents

log = logging.getLogger("netcx.bootstrap")
_B = TypeVar("_B")


@dataclass
class Container:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    pseudonymizer: Pseudonymizer

    # ------------------------------------------------------------ network identity
    network: NetworkService
    resolve_audit: ResolveAudit

    # ------------------------------------------------------------ collector, identity, consent
    event_log: EventLog
    recognizer: Recognizer
    collector: Collector
    identity: IdentityService

    # ------------------------------------------------------------ intents
    intents: IntentService

    # ------------------------------------------------------------ decisions and triggers
    decisions: DecisionService

    # ------------------------------------------------------------ CAMARA Number Verification
    number_verification: NumberVerificationService | None = None

    # Gates /v1/resolve answers by purpose (consent); None answers every purpose.
    resolve_consent_gate: ResolveConsentGate | None = None
    read_radius_log: NetworkLogReader = read_radius_file
    read_cgnat_log: NetworkLogReader = read_cgnat_file


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
        "sqlite": _sqlite_identity_stores,
        "redis": _redis_identity_stores,
        "postgres": _postgres_identity_stores,
        "memory": _memory_identity_stores,
    }
    return builders[settings.identity.store](settings)


def _sqlite_identity_stores(settings: Settings) -> tuple[IdentityStore, ConsentLedger, AuditLog]:
    from netcx.adapters.storage.sqlite_audit import SqliteAuditLog
    from netcx.adapters.storage.sqlite_consent import SqliteConsentLedger
    from netcx.adapters.storage.sqlite_identity import SqliteIdentityStore

    folder = settings.storage.data_dir / "identity"
    return (
        SqliteIdentityStore(folder / "graph.sqlite"),
        SqliteConsentLedger(folder / "consent.sqlite"),
        SqliteAuditLog(folder / "audit.sqlite"),
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


def build_identity_resolver(settings: Settings, pseudonymizer: Pseudonymizer) -> Resolver | None:
    """A fixed binding list (`identity.static_bindings`, for tests and demos) that replaces
    the network resolver; None when not configured."""
    from netcx.adapters.storage.static_bindings import StaticBindingResolver

    path = settings.identity.static_bindings
    return None if path is None else StaticBindingResolver(path, pseudonymizer)


def build_identity_service(
    settings: Settings,
    pseudonymizer: Pseudonymizer,
    resolver: Resolver,
    recent_intents: RecentIntents,
    clock_ms: Callable[[], int] = now_ms,
) -> IdentityService:
    store, consent, audit = build_identity_stores(settings)
    return IdentityService(
        store=store,
        consent=consent,
        audit=audit,
        resolver=resolver,
        pseudonymizer=pseudonymizer,
        clock_ms=clock_ms,
        intents=recent_intents,
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
        now_ms=now_ms,
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
            dedupe_window_s=c.dedupe_window_s,
            linger_ms=c.fsync_linger_ms,
        ),
        "memory": MemoryEventLog,
    }
    return builders[c.event_log]()


def build_container(settings: Settings) -> Container:
    """Build the object graph for `settings` (backends chosen by name in config)."""
    pseudonymizer = build_pseudonymizer(settings)
    network = build_network_service(settings, pseudonymizer)
    intent_state = build_intent_state(settings)
    intents = build_intent_service(settings, intent_state)
    identity = build_identity_service(
        settings,
        pseudonymizer,
        resolver=build_identity_resolver(settings, pseudonymizer) or network,
        recent_intents=IntentNotes(intents, now_ms),
    )
    gate = ConsentGate(identity.consent)
    event_log = build_event_log(settings)
    decision_log = build_decision_log(settings)
    identity.other_stores = build_subject_stores(
        settings, pseudonymizer, event_log, intent_state, decision_log
    )
    identity.event_log = event_log
    recognizer = EventRecognizer(
        identity,
        intents,
        score=settings.intents.score_inline,
        linger_s=settings.collect.recognition_linger_ms / 1000,
        group_events=settings.collect.recognition_group_events,
    )
    sources = DecisionSources(identity, intents)
    world = open_world(settings.world) if settings.world is not None else None
    return Container(
        settings=settings,
        pseudonymizer=pseudonymizer,
        network=network,
        resolve_audit=FileResolveAudit(settings.storage.data_dir / "audit" / "resolve"),
        resolve_consent_gate=gate,
        event_log=event_log,
        recognizer=recognizer,
        collector=build_collector(settings, event_log, recognizer),
        identity=identity,
        intents=intents,
        decisions=build_decision_service(
            settings,
            pseudonymizer,
            recognition=sources,
            intents=sources,
            facts=build_customer_facts(world, pseudonymizer),
            log=decision_log,
        ),
        number_verification=build_number_verification(
            settings,
            resolver=network,
            directory=(
                None if world is None else CrmLineDirectory(world.table("crm/lines"), pseudonymizer)
            ),
            consent=LineConsent(gate),
        ),
    )


def build_collector(settings: Settings, event_log: EventLog, recognizer: Recognizer) -> Collector:
    """Inline recognition, or storing at the recognition follower's pace (batches of
    `collect.inline_batch_events` or more recognised inline even then)."""
    c = settings.collect
    if c.recognition == "inline":
        return Collector(event_log, recognizer)
    pacing = FollowerPacing(
        settings.storage.data_dir / "events",
        c.follower_max_lag_bytes,
        c.follower_max_wait_ms / 1000,
    )
    inline_from = c.inline_batch_events
    return Collector(event_log, recognizer if inline_from else None, pacing, inline_from)


def build_recognition_follower(settings: Settings) -> RecognitionFollower:
    """The data directory's recognition follower (`collect.recognition=follower`), over the
    same recognition the inline path runs."""
    container = build_container(settings)
    c = settings.collect
    recognizer = container.recognizer
    assert isinstance(recognizer, EventRecognizer)
    return RecognitionFollower(
        settings.storage.data_dir / "events",
        recognizer.recognise_now,
        group_events=c.follower_group_events,
        fsync=c.fsync,
        dedupe_window_s=c.dedupe_window_s,
    )


def build_customer_facts(world: World | None, pseudonymizer: Pseudonymizer) -> CustomerFactsSource:
    """CRM facts for decisions: the world's CRM when the service runs with one, else none."""
    if world is None:
        from netcx.adapters.decisions.memory_sources import StaticFactsSource

        return StaticFactsSource()
    return CustomerFactsIndex(world, pseudonymizer)


# ---------------------------------------------------------------- network identity


def network_dir(settings: Settings) -> Path:
    return settings.storage.data_dir / "network"


def build_network_service(settings: Settings, pseudonymizer: Pseudonymizer) -> NetworkService:
    """Resolver over the data dir's config and journal (loaded on first use)."""
    root = network_dir(settings)
    journal = FileJournal(root, fsync=settings.radius.fsync)
    return NetworkService(
        lambda: load_network_config(root),
        journal,
        pseudonymizer,
        settings.resolver,
        new_block_base=PackedBlockBase.empty,
    )


def build_radius_listener(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> AccountingListener:
    """The UDP accounting listener writing to the data dir's journal (binds now)."""
    root = network_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    plan_path = root / "address_plan.json"
    if plan_path.is_file():
        plan = AddressPlan.from_json(plan_path.read_bytes())
        names = {n.nas_ip: n.nas_identifier for n in plan.nas if n.nas_identifier}
    radius = settings.radius
    journal = FileJournal(root, fsync=radius.fsync)
    return AccountingListener(
        host or radius.host,
        radius.port if port is None else port,
        journal,
        nas_secrets={ip: s.get_secret_value().encode() for ip, s in radius.nas_secrets.items()},
        default_secret=radius.secret.get_secret_value().encode() if radius.secret else None,
        nas_names=names,
        stats_file=root / "radius_stats.json",
        stored=journal.recent_accounting(REMEMBERED),
    )


def build_batch_resolver(
    settings: Settings, world: World, pseudonymizer: Pseudonymizer, work_dir: Path
) -> DuckDbBatchResolver:
    """Batch resolver for a world folder: parses its raw RADIUS detail files and CGNAT logs
    (bad lines are counted and skipped), reads plan + NAT config + CRM lines, and resolves
    hits with DuckDB ASOF joins."""
    net = world.path / "network"
    plan = AddressPlan.from_json((net / "address_plan.json").read_bytes())
    nat_path = net / "deterministic_nat.json"
    nat = (
        DeterministicNat.from_json(nat_path.read_bytes())
        if nat_path.is_file()
        else DeterministicNat([])
    )
    directory = NetworkLineDirectory(lines_from_table(world.table("crm/lines")))
    config = NetworkConfig(plan, nat, directory)
    records: list[AccountingRecord] = []
    events: list[BlockEvent] = []
    errors: list[ParseError] = []
    logs: list[tuple[NetworkLogReader, Path]] = [
        *((read_radius_file, p) for p in sorted((net / "radius").glob("detail-*.log"))),
        *(
            (read_cgnat_file, p)
            for p in sorted((net / "cgnat").glob("*"))
            if p.suffix in (".log", ".ipfix")
        ),
    ]
    for reader, path in logs:
        for item in reader(path):
            if isinstance(item, ParseError):
                errors.append(item)
            elif isinstance(item, AccountingRecord):
                records.append(item)
            else:
                events.append(item)
    if errors:
        log.warning(
            "network.batch_ingest skipped=%d first=%s:%d",
            len(errors),
            errors[0].source,
            errors[0].line_no,
        )
    resolver = build_resolver(config, settings.resolver, pseudonymizer, records, events)
    return DuckDbBatchResolver(resolver, work_dir, settings.resolver.batch_memory_limit)


_INTENT_STATE_BACKENDS: dict[str, Callable[[Settings], IntentStateData]] = {
    "memory": lambda s: MemoryIntentStateStore(),
    "embedded": lambda s: SqliteIntentStateStore(s.storage.data_dir / "intent_state.sqlite"),
    "redis": lambda s: RedisIntentStateStore(s.intents.redis_url, ttl_s=s.intents.state_ttl_s),
}


def build_intent_state(settings: Settings) -> IntentStateData:
    """The scorer state store, by `intents.state_backend`."""
    backend = settings.intents.state_backend
    if backend not in _INTENT_STATE_BACKENDS:
        raise ConfigError(
            f"intents.state_backend: unknown backend {backend!r} "
            f"(one of {', '.join(_INTENT_STATE_BACKENDS)})"
        )
    return _INTENT_STATE_BACKENDS[backend](settings)


def build_intent_service(
    settings: Settings, store: IntentStateStore | None = None
) -> IntentService:
    """Real-time intent scoring over the configured state backend and taxonomy."""
    state = store if store is not None else build_intent_state(settings)
    return IntentService(load_taxonomy(settings.intents.taxonomy_path), state)


# ---------------------------------------------------------------- decisions and triggers


def build_decision_log(settings: Settings) -> DecisionLogData:
    """`decisions.log`: memory | sqlite (data_dir/decisions.sqlite, shared by processes) |
    postgres (`scale.postgres.url`, shared by every instance)."""
    from netcx.adapters.decisions.memory_log import MemoryDecisionLog
    from netcx.adapters.decisions.sqlite_log import SqliteDecisionLog

    def postgres() -> DecisionLogData:
        from netcx.adapters.decisions.postgres_log import PostgresDecisionLog

        db = build_postgres(settings)
        db.migrate()
        return PostgresDecisionLog(db)

    builders: dict[str, Callable[[], DecisionLogData]] = {
        "memory": MemoryDecisionLog,
        "sqlite": lambda: SqliteDecisionLog(settings.storage.data_dir / "decisions.sqlite"),
        "postgres": postgres,
    }
    return _choose("decisions.log", settings.decisions.log, builders)()


def build_dead_letters(settings: Settings) -> DeadLetterStore:
    from netcx.adapters.triggers.dead_letters import FolderDeadLetterStore

    return FolderDeadLetterStore(settings.storage.data_dir / "triggers" / "dead_letters")


def build_trigger_transport(settings: Settings, kind: str | None = None) -> TriggerTransport:
    """The transport of `kind` (webhook | redis | kafka), by default `decisions.triggers.sink`."""
    t = settings.decisions.triggers

    def webhook() -> TriggerTransport:
        from netcx.adapters.triggers.webhook import WebhookTransport

        if not t.webhook_url:
            raise ConfigError("decisions.triggers.webhook_url: required for sink 'webhook'")
        return WebhookTransport(
            t.webhook_url, t.webhook_secret.get_secret_value().encode(), t.timeout_s
        )

    def redis() -> TriggerTransport:
        from netcx.adapters.triggers.redis_stream import RedisStreamTransport

        return RedisStreamTransport(t.redis_url, t.redis_stream, t.timeout_s)

    def kafka() -> TriggerTransport:
        from netcx.adapters.triggers.kafka import KafkaTransport

        return KafkaTransport(
            t.kafka_bootstrap,
            t.kafka_topic,
            t.timeout_s,
            (t.kafka_partitions, t.kafka_retention_ms),
        )

    builders = {"webhook": webhook, "redis": redis, "kafka": kafka}
    return _choose("decisions.triggers.sink", kind or t.sink, builders)()


TRIGGER_SINKS = ("none", "memory", "webhook", "redis", "kafka")


def _require_bus_delivery(settings: Settings) -> None:
    t = settings.decisions.triggers
    if t.sink != "webhook":
        raise ConfigError(
            "decisions.triggers.deliver_inline=false: `netcx bus triggers` workers deliver "
            f"to webhooks; set decisions.triggers.sink to 'webhook' (it is {t.sink!r})"
        )


def build_trigger_sink(settings: Settings) -> TriggerSink | None:
    """`decisions.triggers.sink`: none | memory | webhook | redis | kafka (queued delivery).
    With `deliver_inline=false` the sink publishes to `decisions.triggers.bus` instead, for
    the `netcx bus triggers` workers to deliver."""
    from netcx.adapters.triggers.memory import MemoryTriggerSink
    from netcx.adapters.triggers.queue import QueuedTriggerSink

    t = settings.decisions.triggers
    _choose("decisions.triggers.sink", t.sink, dict.fromkeys(TRIGGER_SINKS))
    if t.sink == "none":
        return None
    if t.sink == "memory":
        return MemoryTriggerSink()
    if not t.deliver_inline:
        _require_bus_delivery(settings)
    via = t.sink if t.deliver_inline else t.bus
    return QueuedTriggerSink(
        build_trigger_transport(settings, via),
        build_dead_letters(settings),
        name=via,
        max_attempts=t.max_attempts,
        backoff_initial_s=t.backoff_initial_s,
        backoff_max_s=t.backoff_max_s,
        queue_size=t.queue_size,
    )


def build_decision_service(
    settings: Settings,
    pseudonymizer: Pseudonymizer,
    *,
    recognition: RecognitionSource,
    intents: SessionIntentSource,
    facts: CustomerFactsSource,
    clock_ms: Callable[[], int] = now_ms,
    log: DecisionLog | None = None,
) -> DecisionService:
    """The decide use case with the configured policy, decision log (`log`, else built
    from settings) and trigger sink."""
    return DecisionService(
        policy=load_policy_file(settings.decisions.policy_file),
        recognition=recognition,
        intents=intents,
        facts=facts,
        log=log if log is not None else build_decision_log(settings),
        sink=build_trigger_sink(settings),
        pseudonymizer=pseudonymizer,
        destination=settings.decisions.triggers.destination,
        clock_ms=clock_ms,
        srm_alpha=settings.decisions.srm_alpha,
    )


def _choose(setting: str, name: str, builders: dict[str, _B]) -> _B:
    if name not in builders:
        raise ConfigError(f"{setting}: {name!r} is not one of {sorted(builders)}")
    return builders[name]


# ---------------------------------------------------------------- the batch pipeline


def open_world(path: Path) -> World:
    """Open a world folder (each table validated when it is read)."""
    from netcx.simulate.world import WorldFolder

    return WorldFolder(path)


def build_pipeline_deps(settings: Settings, world: World, work_dir: Path) -> PipelineDeps:
    """Everything `services.pipeline.run_pipeline` needs for `world`."""
    pseudonymizer = build_pseudonymizer(settings)
    return PipelineDeps(
        settings=settings,
        pseudonymizer=pseudonymizer,
        batch_resolver=build_batch_resolver(settings, world, pseudonymizer, work_dir),
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

        return KafkaEventBus(bus.kafka_bootstrap, bus.topic, bus.partitions, bus.kafka_retention_ms)

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

        resolver = build_identity_resolver(settings, pseudonymizer)
        if resolver is None:
            resolver = build_network_service(settings, pseudonymizer)
        return resolver, MemoryResolvedEvents()

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


# ---------------------------------------------------------------- privacy: every store


def build_subject_stores(
    settings: Settings,
    pseudonymizer: Pseudonymizer,
    event_log: EventLog,
    intent_state: IntentStateData,
    decision_log: DecisionLogData,
) -> tuple[SubjectData, ...]:
    """The stores besides the identity graph, consent ledger and audit log that hold a
    subject's data, so export and erasure reach them (docs/privacy.md lists them)."""
    from netcx.services.privacy import DecisionLogSubjects, EventLogSubjects

    return (
        EventLogSubjects(event_log, pseudonymizer),
        intent_state,
        DecisionLogSubjects(decision_log, pseudonymizer),
        *_bus_copies(settings, pseudonymizer),
    )


def _bus_copies(settings: Settings, pseudonymizer: Pseudonymizer) -> tuple[SubjectData, ...]:
    """The forwarded copies of events on the bus, by `scale.bus.backend`. A Kafka topic
    cannot delete single records: there the topic's retention.ms bounds a copy's life."""
    bus = settings.scale.bus

    def redis() -> tuple[SubjectData, ...]:
        from netcx.adapters.bus.redis_streams_subjects import RedisStreamsSubjects

        return (
            RedisStreamsSubjects(
                bus.redis_url, bus.topic, bus.partitions, bus.redis_prefix, pseudonymizer
            ),
        )

    builders: dict[str, Callable[[], tuple[SubjectData, ...]]] = {
        "none": tuple,
        "kafka": tuple,
        "redis": redis,
    }
    return builders[bus.backend]()


# ---------------------------------------------------------------- scale-out: trigger delivery


def build_trigger_bus(settings: Settings) -> TriggerBus:
    """The trigger topic or stream the `netcx bus triggers` workers consume, by
    `decisions.triggers.bus`."""
    t = settings.decisions.triggers

    def kafka() -> TriggerBus:
        from netcx.adapters.triggers.kafka import KafkaTriggerBus

        return KafkaTriggerBus(
            t.kafka_bootstrap, t.kafka_topic, (t.kafka_partitions, t.kafka_retention_ms)
        )

    def redis() -> TriggerBus:
        from netcx.adapters.triggers.redis_stream import RedisTriggerBus

        return RedisTriggerBus(t.redis_url, t.redis_stream)

    builders: dict[str, Callable[[], TriggerBus]] = {"kafka": kafka, "redis": redis}
    return builders[t.bus]()


def build_delivered_triggers(settings: Settings) -> DeliveredTriggers:
    """The delivery workers' shared ledger: in the `scale.online` Redis when that is the
    online store (workers on several hosts), else SQLite in data_dir (one host)."""
    from netcx.adapters.triggers.delivered import RedisDeliveredTriggers, SqliteDeliveredTriggers

    online, ttl_s = settings.scale.online, settings.decisions.triggers.delivered_ttl_s
    if online.store == "redis":
        return RedisDeliveredTriggers(online.redis_url, online.redis_prefix, ttl_s)
    path = settings.storage.data_dir / "triggers" / "delivered.sqlite"
    return SqliteDeliveredTriggers(path, ttl_s)


def build_replay_transport(settings: Settings) -> TriggerTransport:
    """What `netcx triggers replay` delivers dead letters with: the configured sink; with
    `deliver_inline=false` the webhook behind the workers' ledger, so a trigger a worker
    delivered after dead-lettering it once (a redelivery, a replay group) is not sent again."""
    t = settings.decisions.triggers
    if t.deliver_inline:
        return build_trigger_transport(settings)
    _require_bus_delivery(settings)
    return OnceTransport(
        build_trigger_transport(settings, "webhook"), build_delivered_triggers(settings)
    )


def build_trigger_delivery(settings: Settings) -> TriggerDelivery:
    """What a `netcx bus triggers` worker delivers with: the webhook of
    `decisions.triggers` behind the queue (retries with backoff, dead letters), skipping
    triggers the shared ledger has as delivered."""
    from netcx.adapters.triggers.queue import QueuedTriggerSink

    _require_bus_delivery(settings)
    t = settings.decisions.triggers
    if t.deliver_inline:
        raise ConfigError(
            "decisions.triggers.deliver_inline is true: `netcx serve` delivers triggers itself "
            "and publishes none for `netcx bus triggers`; set it to false (for serve too)"
        )
    once = OnceTransport(
        build_trigger_transport(settings, "webhook"), build_delivered_triggers(settings)
    )
    dead_letters = build_dead_letters(settings)
    sink = QueuedTriggerSink(
        once,
        dead_letters,
        name="webhook",
        max_attempts=t.max_attempts,
        backoff_initial_s=t.backoff_initial_s,
        backoff_max_s=t.backoff_max_s,
        queue_size=t.queue_size,
        dead_letter_on_close=False,  # uncommitted: the group gets them again
    )
    return TriggerDelivery(sink, once, dead_letters)
