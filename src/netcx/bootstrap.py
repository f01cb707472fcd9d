"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

from dataclasses import dataclass

from netcx.config import Settings
from netcx.domain.pseudonyms import Pseudonymizer


@dataclass
class Container:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    pseudonymizer: Pseudonymizer

    # ------------------------------------------------------------ network identity

    # ------------------------------------------------------------ collector, identity, consent

    # ------------------------------------------------------------ intents

    # ------------------------------------------------------------ decisions and triggers


def build_pseudonymizer(settings: Settings) -> Pseudonymizer:
    keys = {v: k.get_secret_value().encode() for v, k in settings.pseudonyms.keys.items()}
    return Pseudonymizer(keys, settings.pseudonyms.current)


def build_container(settings: Settings) -> Container:
    """Build the object graph for `settings` (backends chosen by name in config)."""
    return Container(settings=settings, pseudonymizer=build_pseudonymizer(settings))
