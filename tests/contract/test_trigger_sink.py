"""One contract for every TriggerSink: what is submitted arrives once, keyed by the account
pseudonym, as a payload valid against docs/schemas/netcx.trigger.v1.schema.json."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from netcx.adapters.triggers.dead_letters import FolderDeadLetterStore
from netcx.adapters.triggers.memory import MemoryTriggerSink
from netcx.adapters.triggers.queue import QueuedTriggerSink
from netcx.adapters.triggers.redis_stream import RedisStreamTransport
from netcx.domain.decisions.context import ActiveIntent
from netcx.domain.decisions.engine import DecisionEngine
from netcx.domain.decisions.triggers import Trigger, build_trigger, destination_alias
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.ports import TriggerSink
from tests.integration.decisions.servers import consume, tansu_broker, webhook_receiver
from tests.servers import redis_server
from tests.unit.decisions.helpers import ctx, default_policy, line_visitor, without_holdouts

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "docs/schemas/netcx.trigger.v1.schema.json").read_text()
)
PZ = Pseudonymizer({"k1": b"contract-key"}, "k1")
SECRET = b"contract-secret"


def sample_triggers(n: int, destination: str = "cvm") -> list[Trigger]:
    engine = DecisionEngine(without_holdouts(default_policy()))
    out = []
    for i in range(n):
        rec = line_visitor(f"ac1_{i:04d}")
        c = ctx(("churn_research", 0.9), ("upgrade", 0.4), recognition=rec, session_id=f"s{i}")
        d = engine.decide(c, [], f"dc_{i:013x}{'ab' * 6}")
        alias = destination_alias(PZ, destination)
        t = build_trigger(d, rec, (ActiveIntent("churn_research", 0.9),), alias, destination)
        assert t is not None
        out.append(t)
    return out


Backend = tuple[TriggerSink, Callable[[], list[dict[str, Any]]], Callable[[], list[str]]]


def _queued(transport: Any, tmp_path: Path) -> QueuedTriggerSink:
    return QueuedTriggerSink(
        transport,
        FolderDeadLetterStore(tmp_path / "dead"),
        name="contract",
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
    )


@pytest.fixture(
    params=[
        "memory",
        pytest.param("webhook", marks=pytest.mark.integration),
        pytest.param("redis", marks=[pytest.mark.integration, pytest.mark.redis]),
        pytest.param("kafka", marks=[pytest.mark.integration, pytest.mark.kafka]),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        mem = MemoryTriggerSink()
        yield (
            mem,
            lambda: [json.loads(msgspec.json.encode(t)) for t in mem.triggers],
            lambda: [t.partition_key for t in mem.triggers],
        )
    elif request.param == "webhook":
        from netcx.adapters.triggers.webhook import WebhookTransport

        with webhook_receiver(SECRET) as rx:
            sink = _queued(WebhookTransport(rx.url, SECRET, 2.0), tmp_path)
            yield (
                sink,
                lambda: list(rx.received.values()),
                lambda: [p["ids"]["account"] for p in rx.received.values()],
            )
            sink.close()
    elif request.param == "redis":
        import redis

        with redis_server() as url:
            sink = _queued(RedisStreamTransport(url, "netcx.triggers", 2.0), tmp_path)
            client = redis.Redis.from_url(url)

            def entries() -> list[dict[bytes, bytes]]:
                return [fields for _, fields in client.xrange("netcx.triggers")]

            yield (
                sink,
                lambda: [json.loads(e[b"body"]) for e in entries()],
                lambda: [e[b"key"].decode() for e in entries()],
            )
            sink.close()
            client.close()
    else:
        from netcx.adapters.triggers.kafka import KafkaTransport

        with tansu_broker("netcx.triggers") as bootstrap:
            sink = _queued(
                KafkaTransport(bootstrap, "netcx.triggers", 5.0, (3, 3_600_000)), tmp_path
            )
            records: list[Any] = []

            def read() -> list[Any]:
                if not records:
                    records.extend(consume(bootstrap, "netcx.triggers", 5))
                return records

            yield (
                sink,
                lambda: [json.loads(r.value) for r in read()],
                lambda: [r.key.decode() for r in read()],
            )
            sink.close()


def test_submitted_triggers_arrive_once_valid_and_keyed_by_account(backend: Backend) -> None:
    sink, payloads, keys = backend
    triggers = sample_triggers(5)
    for t in triggers:
        sink.submit(t)
    assert sink.flush(timeout_s=30)
    got = payloads()
    assert sorted(p["trigger_id"] for p in got) == sorted(t.trigger_id for t in triggers)
    for p in got:
        jsonschema.validate(p, SCHEMA)
        assert p["idempotency_key"] == f"{p['decision_id']}/cvm"
        assert {e["id"] for e in p["experiences"]} == {
            "retention_save_offer",
            "retention_follow_up",
        }
    assert sorted(keys()) == sorted(t.ids.account for t in triggers)


def test_payload_ids_are_destination_pseudonyms() -> None:
    a, b = sample_triggers(1, "cvm")[0], sample_triggers(1, "call_centre")[0]
    assert a.ids.account != b.ids.account  # two destinations cannot join their ids
    assert a.ids.account != "ac1_0000" and "ac1_0000" not in json.dumps(SCHEMA)
    jsonschema.validate(json.loads(msgspec.json.encode(b)), SCHEMA)
