"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from netcx.adapters.storage.eventlog_memory import MemoryEventLog
from netcx.adapters.storage.eventlog_segments import SegmentEventLog
from netcx.config import Settings
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.ports import EventLog, Recognizer
from netcx.services.collect import Collector, NullRecognizer


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


def build_pseudonymizer(settings: Settings) -> Pseudonymizer:
    keys = {v: k.get_secret_value().encode() for v, k in settings.pseudonyms.keys.items()}
    return Pseudonymizer(keys, settings.pseudonyms.current)


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
    )
