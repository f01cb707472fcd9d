"""ASGI factory for tests and benchmarks: netcx's real app and decide service, with the
identity/intent/CRM sources replaced by in-memory fakes read from NETCX_TEST_VISITORS (JSON)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import msgspec
from starlette.applications import Starlette

from netcx.adapters.decisions.memory_sources import (
    StaticFactsSource,
    StaticIntentSource,
    StaticRecognitionSource,
)
from netcx.bootstrap import build_container, build_decision_service
from netcx.config import load_settings
from netcx.domain.decisions.context import ActiveIntent, CustomerFacts, Recognition
from netcx.entrypoints.gc_policy import tune_gc
from netcx.entrypoints.http.app import create_app
from tests.servers import free_port, http_process

ROOT = Path(__file__).parents[3]


class Visitor(msgspec.Struct):
    recognition: Recognition
    intents: list[ActiveIntent] = []
    facts: CustomerFacts = CustomerFacts()


def create() -> Starlette:
    settings = load_settings()
    visitors = msgspec.json.decode(
        Path(os.environ["NETCX_TEST_VISITORS"]).read_bytes(), type=dict[str, Visitor]
    )
    # The default container (its own decide service kept in memory, no sink), then the
    # decide service under test with the configured log and sink and the fake sources.
    no_sink = settings.decisions.triggers.model_copy(update={"sink": "none"})
    quiet = settings.model_copy(
        update={
            "decisions": settings.decisions.model_copy(
                update={"log": "memory", "triggers": no_sink}
            )
        }
    )
    container = build_container(quiet)
    container.settings = settings
    container.decisions = build_decision_service(
        settings,
        container.pseudonymizer,
        recognition=StaticRecognitionSource({k: v.recognition for k, v in visitors.items()}),
        intents=StaticIntentSource({k: v.intents for k, v in visitors.items()}),
        facts=StaticFactsSource(
            {
                v.recognition.account_id: v.facts
                for v in visitors.values()
                if v.recognition.account_id
            }
        ),
    )
    app = create_app(container)
    tune_gc()  # the product's worker GC policy, as netcx.entrypoints.http.asgi:create
    return app


@contextmanager
def fake_server(
    visitors: Mapping[str, Visitor],
    tmp: Path,
    env: Mapping[str, str] | None = None,
    target: str = "tests.integration.decisions.fake_app:create",
) -> Iterator[str]:
    """Run `target` under granian (one worker) on a free port; yields the base URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    fixture = tmp / "visitors.json"
    fixture.write_bytes(msgspec.json.encode(dict(visitors)))
    port = free_port()
    full_env = {
        **os.environ,
        "NETCX_TEST_VISITORS": str(fixture),
        "NETCX_STORAGE__DATA_DIR": str(tmp / "data"),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--no-access-log", "--log-level", "warning", target]  # fmt: skip
    with http_process(command, port, full_env, "decide server", cwd=ROOT) as base:
        yield base
