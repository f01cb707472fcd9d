"""EventBus contract: every backend (Kafka-protocol broker, Redis Streams) delivers each
published event to every consumer group at least once, keeps one key's events in order,
shares a group's work between members and redelivers what was not committed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator

import pytest

from netcx.domain.events import Event, Source, StoredEvent
from netcx.ports import BusConsumer, EventBus
from tests.servers import kafka_broker, redis_server

pytestmark = pytest.mark.integration

BACKENDS = [
    pytest.param("kafka", marks=pytest.mark.kafka),
    pytest.param("redis", marks=pytest.mark.redis),
]


@pytest.fixture(scope="module")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_broker() as bootstrap:
        yield bootstrap


@pytest.fixture(scope="module")
def bus_redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def make_bus(request: pytest.FixtureRequest) -> Callable[[], EventBus]:
    """Makes the bus inside the test's event loop (a fresh topic per test)."""
    topic = f"t{uuid.uuid4().hex[:8]}"
    if request.param == "kafka":
        from netcx.adapters.bus.kafka import KafkaEventBus

        bootstrap = request.getfixturevalue("kafka_bootstrap")
        return lambda: KafkaEventBus(bootstrap, topic, 3)
    from netcx.adapters.bus.redis_streams import RedisStreamsEventBus

    url = request.getfixturevalue("bus_redis_url")
    # members that stop answering lose their entries to others after 1 s (30 s by default)
    return lambda: RedisStreamsEventBus(url, topic, 3, claim_idle_ms=1000)


def stored(i: int, visitor: str = "v") -> tuple[str, StoredEvent]:
    e = Event(Source.TAG, f"e{i}", "page", received_ms=1000 + i, visitor_id=visitor)
    return visitor, StoredEvent(e)


async def drain(consumer: BusConsumer, n: int, timeout_s: float = 20) -> list[StoredEvent]:
    out: list[StoredEvent] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(out) < n and asyncio.get_running_loop().time() < deadline:
        out += await consumer.poll(100, 200)
    return out


def ids(items: list[StoredEvent]) -> list[str]:
    return [s.event.event_id for s in items]


def test_every_group_gets_every_event_and_one_key_stays_in_order(
    make_bus: Callable[[], EventBus],
) -> None:
    async def run() -> None:
        bus = make_bus()
        records = [stored(i, visitor=f"v{i % 4}") for i in range(40)]
        await bus.publish(records)
        for group in ("resolve", "intents"):
            c = bus.consumer(group, "m1")
            got = await drain(c, 40)
            await c.commit()
            await c.close()
            assert sorted(ids(got)) == sorted(f"e{i}" for i in range(40))
            for v in range(4):
                mine = [int(s.event.event_id[1:]) for s in got if s.event.visitor_id == f"v{v}"]
                assert mine == sorted(mine)
        await bus.close()

    asyncio.run(run())


def test_uncommitted_events_are_delivered_again(make_bus: Callable[[], EventBus]) -> None:
    async def run() -> None:
        bus = make_bus()
        await bus.publish([stored(i) for i in range(10)])
        c1 = bus.consumer("g", "m1")
        first = await drain(c1, 10)
        assert len(first) == 10
        await c1.close()  # crashed before committing
        c2 = bus.consumer("g", "m1")
        again = await drain(c2, 10)
        assert sorted(ids(again)) == sorted(ids(first))
        await c2.commit()
        await c2.close()
        await bus.publish([stored(10)])
        c3 = bus.consumer("g", "m1")
        assert ids(await drain(c3, 1)) == ["e10"]
        await c3.close()
        await bus.close()

    asyncio.run(run())


def test_what_a_dead_member_was_given_goes_to_another_member(
    make_bus: Callable[[], EventBus],
) -> None:
    async def run() -> None:
        bus = make_bus()
        await bus.publish([stored(i, visitor=f"v{i}") for i in range(12)])
        dead = bus.consumer("g", "dead")
        given = await drain(dead, 12)
        assert len(given) == 12
        await dead.close()  # never commits, never comes back
        alive = bus.consumer("g", "alive")
        again = await drain(alive, 12, timeout_s=30)
        assert sorted(ids(again)) == sorted(ids(given))
        await alive.commit()
        await alive.close()
        await bus.close()

    asyncio.run(run())
