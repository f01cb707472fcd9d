"""Export and erasure of a subject in every IntentStateStore (memory, SQLite, Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netcx.adapters.storage.intent_state_memory import MemoryIntentStateStore
from netcx.adapters.storage.intent_state_redis import RedisIntentStateStore
from netcx.adapters.storage.intent_state_sqlite import SqliteIntentStateStore
from netcx.domain.intents.scoring import Evidence, IntentScorer, SubjectState
from netcx.ports import IntentStateData
from netcx.services.intents import load_taxonomy
from tests.servers import redis_server

scorer = IntentScorer(load_taxonomy())


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IntentStateData]:
    opened: IntentStateData
    if request.param == "memory":
        yield MemoryIntentStateStore()
        return
    if request.param == "sqlite":
        opened = SqliteIntentStateStore(tmp_path / "state.sqlite")
    else:
        url = request.getfixturevalue("redis_url")
        opened = RedisIntentStateStore(url, ttl_s=3600, prefix=f"t:{request.node.name}:")
    yield opened
    opened.close()  # type: ignore[attr-defined]


def signal(state: SubjectState | None, source: str, ts: int) -> SubjectState:
    ev = Evidence(ts_ms=ts, family="path", rule="r", value="/cancel", weight=0.4, source=source)
    return scorer.add("s", state, [("roaming", 0.4, ev)])[0]


def test_a_subject_is_exported_and_erased_with_its_evidence_elsewhere(
    store: IntentStateData,
) -> None:
    store.update("vi1_a", lambda s: signal(s, "vi1_a", 1))
    store.update("vi1_b", lambda s: signal(s, "vi1_b", 2))
    store.update("hh1_h", lambda s: signal(s, "vi1_a", 1))
    store.update("hh1_h", lambda s: signal(s, "vi1_b", 2))
    assert store.name == "intent_state"

    exported = sorted(store.export_subject(["vi1_a"]), key=lambda d: d["subject"])
    assert [d["subject"] for d in exported] == ["hh1_h", "vi1_a"]
    assert [e["source"] for e in exported[0]["evidence_from_subject"]] == ["vi1_a"]
    assert "roaming" in exported[1]["intents"]

    assert store.erase_subject(["vi1_a"]) == 2  # its own state, and the household's evidence
    assert store.export_subject(["vi1_a"]) == []
    states = store.get_many(["vi1_a", "vi1_b", "hh1_h"])
    assert sorted(states) == ["hh1_h", "vi1_b"]
    kept = states["hh1_h"].intents["roaming"].evidence
    assert [e.source for e in kept] == ["vi1_b"]
    assert store.erase_subject(["vi1_a"]) == 0
