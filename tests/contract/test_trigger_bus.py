"""TriggerBus contract: what `netcx serve` publishes to the trigger topic/stream (the kafka
and redis trigger transports) reaches every consumer group as the published body, with its
position; a group's commit keeps a member from seeing it again, another group still does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import msgspec
import pytest

from netcx.domain.decisions.triggers import TriggerRecord
from netcx.ports import TriggerBus, TriggerConsumer, TriggerTransport
from tests.contract.test_trigger_sink import sample_triggers
from tests.servers import kafka_broker, redis_server

pytestmark = pytest.mark.integration

Backend = tuple[TriggerTransport, TriggerBus]


@pytest.fixture(
    params=[
        pytest.param("kafka", marks=pytest.mark.kafka),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    name = f"tr{uuid.uuid4().hex[:8]}"
    if request.param == "kafka":
        from netcx.adapters.triggers.kafka import KafkaTransport, KafkaTriggerBus

        with kafka_broker() as bootstrap:
            config = (2, 3_600_000)  # the topic does not exist: netcx creates it
            transport = KafkaTransport(bootstrap, name, 5.0, config)
            yield transport, KafkaTriggerBus(bootstrap, name, config)
            transport.close()
    else:
        from netcx.adapters.triggers.redis_stream import RedisStreamTransport, RedisTriggerBus

        with redis_server() as url:
            transport = RedisStreamTransport(url, name, 2.0)
            yield transport, RedisTriggerBus(url, name)
            transport.close()


async def drain(consumer: TriggerConsumer, n: int, timeout_s: float = 20) -> list[TriggerRecord]:
    out: list[TriggerRecord] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(out) < n and asyncio.get_running_loop().time() < deadline:
        out += await consumer.poll(100, 200)
    return out


def test_each_group_gets_every_published_trigger_once_committed(backend: Backend) -> None:
    transport, bus = backend
    triggers = sample_triggers(6)
    bodies = {msgspec.json.encode(t) for t in triggers}
    for t in triggers:
        transport.deliver(msgspec.json.encode(t), t)

    async def run() -> None:
        first = bus.consumer("triggers", "m1")
        got = await drain(first, len(triggers))
        assert {r.body for r in got} == bodies
        assert len({r.position for r in got}) == len(triggers)
        await first.commit()
        await first.close()
        again = bus.consumer("triggers", "m2")  # the same group after the commit: nothing
        assert await drain(again, 1, timeout_s=4) == []
        await again.close()
        other = bus.consumer("replay", "m1")  # another group: everything
        assert {r.body for r in await drain(other, len(triggers))} == bodies
        await other.close()
        await bus.close()

    asyncio.run(run())
