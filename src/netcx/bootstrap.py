"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from netcx.config import Settings
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.errors import ConfigError
from netcx.ports import (
    CustomerFactsSource,
    DeadLetterStore,
    DecisionLog,
    RecognitionSource,
    SessionIntentSource,
    TriggerSink,
    TriggerTransport,
)
from netcx.services.decisions import DecisionService, load_policy_file

_B = TypeVar("_B")


@dataclass
class Container:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    pseudonymizer: Pseudonymizer

    # ------------------------------------------------------------ network identity

    # ------------------------------------------------------------ collector, identity, consent

    # ------------------------------------------------------------ intents

    # ------------------------------------------------------------ decisions and triggers
    decisions: DecisionService


def build_pseudonymizer(settings: Settings) -> Pseudonymizer:
    keys = {v: k.get_secret_value().encode() for v, k in settings.pseudonyms.keys.items()}
    return Pseudonymizer(keys, settings.pseudonyms.current)


def build_container(settings: Settings) -> Container:
    """Build the object graph for `settings` (backends chosen by name in config)."""
    from netcx.adapters.decisions.memory_sources import (
        StaticFactsSource,
        StaticIntentSource,
        StaticRecognitionSource,
    )

    pseudonymizer = build_pseudonymizer(settings)
    return Container(
        settings=settings,
        pseudonymizer=pseudonymizer,
        # TODO(lead): wire the identity area's RecognitionSource, the intents area's
        # SessionIntentSource and CustomerFactsIndex(world) here; until then everyone is anonymous.
        decisions=build_decision_service(
            settings,
            pseudonymizer,
            recognition=StaticRecognitionSource(),
            intents=StaticIntentSource(),
            facts=StaticFactsSource(),
        ),
    )


# ---------------------------------------------------------------- decisions and triggers


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def build_decision_log(settings: Settings) -> DecisionLog:
    """`decisions.log`: memory | duckdb (data_dir/decisions.duckdb)."""
    from netcx.adapters.decisions.duckdb_log import DuckDBDecisionLog
    from netcx.adapters.decisions.memory_log import MemoryDecisionLog

    builders: dict[str, Callable[[], DecisionLog]] = {
        "memory": MemoryDecisionLog,
        "duckdb": lambda: DuckDBDecisionLog(settings.storage.data_dir / "decisions.duckdb"),
    }
    return _choose("decisions.log", settings.decisions.log, builders)()


def build_dead_letters(settings: Settings) -> DeadLetterStore:
    from netcx.adapters.triggers.dead_letters import FolderDeadLetterStore

    return FolderDeadLetterStore(settings.storage.data_dir / "triggers" / "dead_letters")


def build_trigger_transport(settings: Settings) -> TriggerTransport:
    """The transport of `decisions.triggers.sink` (webhook | redis | kafka)."""
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

        return KafkaTransport(t.kafka_bootstrap, t.kafka_topic, t.timeout_s)

    builders = {"webhook": webhook, "redis": redis, "kafka": kafka}
    return _choose("decisions.triggers.sink", t.sink, builders)()


TRIGGER_SINKS = ("none", "memory", "webhook", "redis", "kafka")


def build_trigger_sink(settings: Settings) -> TriggerSink | None:
    """`decisions.triggers.sink`: none | memory | webhook | redis | kafka (queued delivery)."""
    from netcx.adapters.triggers.memory import MemoryTriggerSink
    from netcx.adapters.triggers.queue import QueuedTriggerSink

    t = settings.decisions.triggers
    _choose("decisions.triggers.sink", t.sink, dict.fromkeys(TRIGGER_SINKS))
    if t.sink == "none":
        return None
    if t.sink == "memory":
        return MemoryTriggerSink()
    return QueuedTriggerSink(
        build_trigger_transport(settings),
        build_dead_letters(settings),
        name=t.sink,
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
    clock_ms: Callable[[], int] = _now_ms,
) -> DecisionService:
    """The decide use case with the configured policy, decision log and trigger sink."""
    return DecisionService(
        policy=load_policy_file(settings.decisions.policy_file),
        recognition=recognition,
        intents=intents,
        facts=facts,
        log=build_decision_log(settings),
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
