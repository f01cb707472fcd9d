"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from netcx.adapters.auth.jwks import FileJwks, HttpJwks, JwtAccessTokenVerifier
from netcx.adapters.camara.audit import JsonlAuditLog
from netcx.adapters.camara.fixture import FixtureLines
from netcx.adapters.storage.eventlog_memory import MemoryEventLog
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.config import Settings
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.errors import ConfigError
from netcx.ports import (
    EventLog,
    LineDirectory,
    NumberVerificationAudit,
    NumberVerificationConsent,
    Recognizer,
    Resolver,
)
from netcx.services.collect import Collector, NullRecognizer
from netcx.services.number_verification import NumberVerificationService

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

    # ------------------------------------------------------------ intents

    # ------------------------------------------------------------ decisions and triggers

    # ------------------------------------------------------------ CAMARA Number Verification
    number_verification: NumberVerificationService | None = None


def build_pseudonymizer(settings: Settings) -> Pseudonymizer:
    keys = {v: k.get_secret_value().encode() for v, k in settings.pseudonyms.keys.items()}
    return Pseudonymizer(keys, settings.pseudonyms.current)


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
    event_log = build_event_log(settings)
    recognizer = build_recognizer(settings)
    return Container(
        settings=settings,
        pseudonymizer=build_pseudonymizer(settings),
        event_log=event_log,
        recognizer=recognizer,
        collector=Collector(event_log, recognizer),
        number_verification=build_number_verification(settings),
    )
