"""Each trigger sink chosen by name in config, driven through the decide service into a real
server: Redis Streams (redis-server) and a Kafka topic (Tansu), keyed by account pseudonym."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from netcx.adapters.decisions.memory_sources import (
    StaticFactsSource,
    StaticIntentSource,
    StaticRecognitionSource,
)
from netcx.bootstrap import build_decision_service, build_pseudonymizer
from netcx.config import Settings, TriggerSettings
from netcx.domain.decisions.context import ActiveIntent
from netcx.domain.pseudonyms import IdKind
from netcx.errors import ConfigError
from netcx.services.decisions import DecisionService
from tests.integration.decisions.servers import consume, tansu_broker
from tests.servers import redis_server
from tests.unit.decisions.helpers import line_visitor, mobile_facts

pytestmark = pytest.mark.integration
ACCOUNTS = [f"ac1_cfg{i}" for i in range(30)]


def service(tmp_path: Path, triggers: TriggerSettings) -> tuple[DecisionService, Settings]:
    settings = Settings(
        storage={"data_dir": tmp_path},  # type: ignore[arg-type]
        decisions={"log": "sqlite", "triggers": triggers},  # type: ignore[arg-type]
    )
    recs = {f"v{i}": line_visitor(a) for i, a in enumerate(ACCOUNTS)}
    svc = build_decision_service(
        settings,
        build_pseudonymizer(settings),
        recognition=StaticRecognitionSource(recs),
        intents=StaticIntentSource({v: [ActiveIntent("upgrade", 0.9)] for v in recs}),
        facts=StaticFactsSource({a: mobile_facts() for a in ACCOUNTS}),
    )
    return svc, settings


def decide_all(svc: DecisionService) -> list[str]:
    """Decide for every visitor; the account pseudonyms (destination 'cvm') of shown hand-offs."""
    pz_accounts = []
    for i in range(len(ACCOUNTS)):
        r = svc.decide(channel="web", visitor_id=f"v{i}", session_id=f"s{i}")
        if any(c.hand_off for c in r.decision.shown):
            pz_accounts.append(r.recognition.account_id or "")
    return pz_accounts


@pytest.mark.redis
def test_redis_stream_sink_by_name(tmp_path: Path) -> None:
    with redis_server() as url:
        svc, settings = service(tmp_path, TriggerSettings(sink="redis", redis_url=url))
        shown = decide_all(svc)
        assert svc.sink is not None and svc.sink.flush(timeout_s=20)
        client = redis.Redis.from_url(url)
        entries = client.xrange("netcx.triggers")
        client.close()
        svc.log.close()
    pz = build_pseudonymizer(settings)
    assert len(entries) == len(shown) > 15
    expected = sorted(pz.pseudonym(IdKind.ACCOUNT, a, "cvm") for a in shown)
    assert sorted(f[b"key"].decode() for _, f in entries) == expected
    body = json.loads(entries[0][1][b"body"])
    assert body["experiences"][-1]["id"] == "upgrade_follow_up"
    assert all(a not in json.dumps(body) for a in ACCOUNTS)  # internal ids never leave


@pytest.mark.kafka
def test_kafka_topic_sink_by_name(tmp_path: Path) -> None:
    with tansu_broker("cvm.triggers") as bootstrap:
        svc, settings = service(
            tmp_path,
            TriggerSettings(sink="kafka", kafka_bootstrap=bootstrap, kafka_topic="cvm.triggers"),
        )
        shown = decide_all(svc)
        assert svc.sink is not None and svc.sink.flush(timeout_s=30)
        records = consume(bootstrap, "cvm.triggers", len(shown))
        svc.sink.close()
        svc.log.close()
    pz = build_pseudonymizer(settings)
    assert sorted(r.key.decode() for r in records) == sorted(
        pz.pseudonym(IdKind.ACCOUNT, a, "cvm") for a in shown
    )
    # one account → one partition: a consumer sees each account's triggers in order
    by_key: dict[bytes, set[int]] = {}
    for r in records:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in by_key.values())
    assert len({r.partition for r in records}) > 1
    assert dict(r.headers)["idempotency-key"].decode().endswith("/cvm")


def test_unknown_sink_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"decisions.triggers.sink: 'smtp' is not one of \['kafka', 'memory', 'none'",
    ):
        service(tmp_path, TriggerSettings(sink="smtp"))
