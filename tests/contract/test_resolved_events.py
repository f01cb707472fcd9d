"""ResolvedEvents contract (memory, Redis): one answer per event key, redeliveries not counted;
and the Redis binding hot set resolves by address, port and time, and expires."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from netcx.adapters.storage.static_bindings import StaticBinding
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.domain.resolution import Level, Resolution
from netcx.errors import Unavailable
from netcx.ports import ResolvedEvents
from tests.contract.privacy_backends import redis_url  # noqa: F401

P = Pseudonymizer({"k1": b"test-key"}, "k1")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def answers(request: pytest.FixtureRequest) -> Iterator[ResolvedEvents]:
    if request.param == "memory":
        from netcx.adapters.storage.memory_online import MemoryResolvedEvents

        yield MemoryResolvedEvents()
        return
    from netcx.adapters.storage._redis import client
    from netcx.adapters.storage.redis_online import RedisResolvedEvents

    r = client(request.getfixturevalue("redis_url"))
    r.flushdb()
    yield RedisResolvedEvents(r, prefix="t")
    r.close()


def test_first_answer_per_event_wins_and_counts_once(answers: ResolvedEvents) -> None:
    line = Resolution(level=Level.LINE, reason="port_block", line_id="ln1_" + "a" * 24)
    unknown = Resolution.unknown("no_binding")
    assert answers.record([(("segment", "e1"), line), (("tag", "e1"), unknown)]) == 2
    assert answers.record([(("segment", "e1"), unknown), (("segment", "e2"), unknown)]) == 1
    assert answers.get(("segment", "e1")) == line
    assert answers.get(("segment", "nope")) is None
    assert answers.count() == 3
    assert answers.record([]) == 0


@pytest.mark.redis
def test_hot_set_resolves_by_port_and_time_and_expires(redis_url: str) -> None:  # noqa: F811
    from netcx.adapters.storage._redis import client
    from netcx.adapters.storage.redis_online import RedisBindingHotSet

    r = client(redis_url)
    r.flushdb()
    hot = RedisBindingHotSet(r, P, prefix="t", ttl_s=1)
    hot.put(
        [
            StaticBinding("203.0.113.5", Level.LINE, 1024, 2047, 100, 200, 0.9, line_id="L1"),
            StaticBinding("203.0.113.5", Level.LINE, 1024, 2047, 200, None, 0.9, line_id="L2"),
            StaticBinding("203.0.113.5", Level.LINE, 2048, 3071, 0, None, 0.9, line_id="L3"),
        ]
    )
    assert hot.resolve("203.0.113.5", 1500, 150).line_id == P.pseudonym(IdKind.LINE, "L1")
    assert hot.resolve("203.0.113.5", 1500, 250).line_id == P.pseudonym(IdKind.LINE, "L2")
    assert hot.resolve("203.0.113.5", 3000, 250).line_id == P.pseudonym(IdKind.LINE, "L3")
    assert hot.resolve("203.0.113.5", 5000, 250).level is Level.UNKNOWN
    assert hot.resolve("203.0.113.6", 1500, 250).reason == "no_binding"
    assert b"L1" not in b"".join(r.hvals(r.keys(b"t:*")[0]))  # raw ids are not stored
    assert 0 < hot.memory_usage("203.0.113.5") < 2000
    time.sleep(1.2)
    assert hot.resolve("203.0.113.5", 1500, 250).reason == "no_binding"
    r.close()


@pytest.mark.redis
def test_hot_set_answers_a_batch_like_one_query_at_a_time(redis_url: str) -> None:  # noqa: F811
    from netcx.adapters.storage._redis import client
    from netcx.adapters.storage.redis_online import RedisBindingHotSet

    r = client(redis_url)
    r.flushdb()
    hot = RedisBindingHotSet(r, P, prefix="t")
    hot.put(
        [
            StaticBinding("203.0.113.5", Level.LINE, 1024, 2047, 100, 200, 0.9, line_id="L1"),
            StaticBinding("203.0.113.5", Level.LINE, 1024, 2047, 200, None, 0.9, line_id="L2"),
            StaticBinding("203.0.113.5", Level.LINE, 2048, 3071, 0, None, 0.9, line_id="L3"),
            StaticBinding("203.0.113.5", Level.LINE, 9000, None, 0, None, 0.9, line_id="L4"),
            StaticBinding("198.18.0.7", Level.HOUSEHOLD, household_id="H1"),  # no ports
        ]
    )
    queries: list[tuple[str, int | None, int]] = [
        ("203.0.113.5", 1500, 150),
        ("198.18.0.7", None, 5),
        ("203.0.113.5", 1500, 250),
        ("203.0.113.5", 3071, 250),
        ("203.0.113.5", 9000, 250),
        ("203.0.113.5", 9001, 250),
        ("203.0.113.5", None, 250),
        ("203.0.113.6", 1500, 250),
        ("198.18.0.7", 40000, 5),
    ]
    batch = hot.resolve_many(queries)
    assert batch == [hot.resolve(*q) for q in queries]
    assert [b.line_id for b in batch[:6]] == [
        P.pseudonym(IdKind.LINE, "L1"),
        None,
        P.pseudonym(IdKind.LINE, "L2"),
        P.pseudonym(IdKind.LINE, "L3"),
        P.pseudonym(IdKind.LINE, "L4"),
        None,
    ]
    assert batch[1].household_id == batch[8].household_id == P.pseudonym(IdKind.HOUSEHOLD, "H1")
    assert [b.reason for b in batch[5:8]] == ["no_binding"] * 3
    assert hot.resolve_many([]) == []
    r.close()


@pytest.mark.redis
def test_a_retry_after_a_partly_applied_write_counts_each_event_once(
    redis_url: str,  # noqa: F811
) -> None:
    from netcx.adapters.storage._redis import client
    from netcx.adapters.storage.redis_online import RedisResolvedEvents

    r = client(redis_url)
    r.flushdb()
    answers = RedisResolvedEvents(r, prefix="t")
    line = Resolution(level=Level.LINE, reason="hot_set", line_id="ln1_" + "a" * 24)
    batch = [(("segment", f"e{i}"), line) for i in range(10)]
    assert answers.record(batch[:2]) == 2  # an earlier batch, recorded and acknowledged

    # The connection drops in the middle of the next batch's pipeline: half of it is applied.
    real_execute = r.pipeline(transaction=False).__class__.execute
    calls = 0

    def drop_after_half(pipe: Any, raise_on_error: bool = True) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            pipe.command_stack = pipe.command_stack[:4]
            real_execute(pipe, raise_on_error)
            raise RedisConnectionError("Connection reset by peer")
        return real_execute(pipe, raise_on_error)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(r.pipeline(transaction=False).__class__, "execute", drop_after_half)
        with pytest.raises(Unavailable):
            answers.record(batch[2:])
        assert answers.record(batch[2:]) == 8  # the retry: 2 written before the drop + 6 new
    assert answers.count() == 10
    assert answers.record(batch) == 0  # a redelivery afterwards counts nothing
    assert answers.get(("segment", "e5")) == line
    r.close()
