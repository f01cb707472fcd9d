"""deploy/compose.yaml is well formed: services reference each other consistently, every netcx
setting it documents is a real setting with a valid value, every command parses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from netcx.config import load_settings
from netcx.entrypoints.cli import build_app

COMPOSE = Path(__file__).resolve().parents[3] / "deploy" / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def netcx_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image", "").startswith("netcx")}


def substituted(value: str) -> str:
    """Compose variable substitution with test values (${X:-default}, ${X:?error})."""
    return re.sub(r"\$\{([A-Z_]+)(?::[-?]([^}]*))?\}", lambda m: "test-value", value)


def test_topology_has_workers_and_every_engine(compose: dict[str, Any]) -> None:
    services = compose["services"]
    workers = {"resolver", "intents", "triggers"}  # one consumer group each
    assert {"postgres", "redis", "broker", "collector", "forwarder"} | workers <= set(services)
    groups = set()
    for name in workers:
        assert services[name]["deploy"]["replicas"] >= 2, name
        command = services[name]["command"]
        groups.add(command[command.index("--group") + 1])
    assert len(groups) == 3
    # the forwarder drains the collector's own durable log: same volume
    assert services["forwarder"]["volumes"] == services["collector"]["volumes"]
    for name, service in services.items():
        deps = service.get("depends_on", [])
        for dep in deps if isinstance(deps, list) else deps.keys():
            assert dep in services, f"{name} depends on unknown service {dep}"
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name}: volume {volume}"


def test_documented_settings_are_real_and_valid(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    envs = [s["environment"] for s in netcx_services(compose).values()]
    assert envs and all(e == envs[0] for e in envs)
    for key, value in envs[0].items():
        assert key.startswith("NETCX_"), key
        monkeypatch.setenv(key, substituted(str(value)))
    settings = load_settings()  # extra="forbid": a misspelt setting fails here
    assert settings.identity.store == "postgres"
    assert settings.decisions.log == "postgres"
    assert settings.scale.bus.backend == "kafka"
    assert settings.scale.online.store == "redis"
    assert settings.scale.bus.kafka_bootstrap == "broker:9092"
    assert set(settings.pseudonyms.keys) == {settings.pseudonyms.current}
    # serve neither scores nor delivers: the `bus intents` / `bus triggers` workers do, so
    # nothing is counted or delivered twice
    assert settings.intents.score_inline is False and settings.intents.state_backend == "redis"
    t = settings.decisions.triggers
    assert t.deliver_inline is False and t.sink == "webhook" and t.bus == "kafka"
    assert t.kafka_bootstrap == settings.scale.bus.kafka_bootstrap


def test_every_netcx_command_parses(compose: dict[str, Any]) -> None:
    root = typer.main.get_command(build_app())
    for name, service in netcx_services(compose).items():
        args = list(service["command"])
        command: Any = root
        ctx = root.make_context("netcx", list(args), resilient_parsing=False)
        while hasattr(command, "resolve_command"):  # a group: descend to the subcommand
            sub_name, sub, rest = command.resolve_command(ctx, ctx._protected_args + ctx.args)
            assert sub is not None, f"{name}: unknown command {sub_name}"
            command = sub
            ctx = command.make_context(sub_name or "", list(rest), parent=ctx)
        assert command.callback is not None, name
