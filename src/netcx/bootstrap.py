"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from netcx.adapters.storage.intent_state_duckdb import DuckDBIntentStateStore
from netcx.adapters.storage.intent_state_memory import MemoryIntentStateStore
from netcx.adapters.storage.intent_state_redis import RedisIntentStateStore
from netcx.config import Settings
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.errors import ConfigError
from netcx.ports import IntentStateStore
from netcx.services.intents import IntentService, load_taxonomy


@dataclass
class Container:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    pseudonymizer: Pseudonymizer

    # ------------------------------------------------------------ network identity

    # ------------------------------------------------------------ collector, identity, consent

    # ------------------------------------------------------------ intents
    intents: IntentService | None = None

    # ------------------------------------------------------------ decisions and triggers


def build_pseudonymizer(settings: Settings) -> Pseudonymizer:
    keys = {v: k.get_secret_value().encode() for v, k in settings.pseudonyms.keys.items()}
    return Pseudonymizer(keys, settings.pseudonyms.current)


def build_container(settings: Settings) -> Container:
    """Build the object graph for `settings` (backends chosen by name in config)."""
    container = Container(settings=settings, pseudonymizer=build_pseudonymizer(settings))
    container.intents = build_intent_service(settings)
    return container


_INTENT_STATE_BACKENDS: dict[str, Callable[[Settings], IntentStateStore]] = {
    "memory": lambda s: MemoryIntentStateStore(),
    "embedded": lambda s: DuckDBIntentStateStore(s.storage.data_dir / "intent_state.duckdb"),
    "redis": lambda s: RedisIntentStateStore(s.intents.redis_url, ttl_s=s.intents.state_ttl_s),
}


def build_intent_service(settings: Settings) -> IntentService:
    """Real-time intent scoring over the configured state backend and taxonomy."""
    backend = settings.intents.state_backend
    if backend not in _INTENT_STATE_BACKENDS:
        raise ConfigError(
            f"intents.state_backend: unknown backend {backend!r} "
            f"(one of {', '.join(_INTENT_STATE_BACKENDS)})"
        )
    store = _INTENT_STATE_BACKENDS[backend](settings)
    return IntentService(load_taxonomy(settings.intents.taxonomy_path), store)
