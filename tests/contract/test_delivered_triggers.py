"""One contract for every DeliveredTriggers ledger: a marked key is delivered for every worker
sharing the ledger, an unmarked one is not, and a key is forgotten after its time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netcx.adapters.triggers.delivered import (
    MemoryDeliveredTriggers,
    RedisDeliveredTriggers,
    SqliteDeliveredTriggers,
)
from netcx.ports import DeliveredTriggers
from tests.servers import redis_server

# opens one worker's view of the shared ledger, keeping keys `ttl_s`
Open = Callable[[int], DeliveredTriggers]


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("redis", marks=[pytest.mark.integration, pytest.mark.redis]),
    ]
)
def open_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Open]:
    opened: list[DeliveredTriggers] = []
    if request.param == "memory":
        shared = MemoryDeliveredTriggers()
        yield lambda ttl_s: shared
    elif request.param == "sqlite":

        def sqlite(ttl_s: int) -> DeliveredTriggers:
            opened.append(SqliteDeliveredTriggers(tmp_path / "t" / "delivered.sqlite", ttl_s))
            return opened[-1]

        yield sqlite
    else:
        with redis_server() as url:

            def redis(ttl_s: int) -> DeliveredTriggers:
                opened.append(RedisDeliveredTriggers(url, "netcx", ttl_s))
                return opened[-1]

            yield redis
    for ledger in opened:
        ledger.close()


def test_a_marked_key_is_delivered_for_every_worker(open_ledger: Open) -> None:
    one, two = open_ledger(3600), open_ledger(3600)
    assert not one.delivered("dc_1/cvm")
    one.mark("dc_1/cvm")
    assert one.delivered("dc_1/cvm") and two.delivered("dc_1/cvm")
    assert not two.delivered("dc_2/cvm") and not two.delivered("dc_1/other")
    two.mark("dc_1/cvm")  # marking again is harmless
    assert one.delivered("dc_1/cvm")


def test_sqlite_forgets_a_key_after_its_time(tmp_path: Path) -> None:
    now = [1_000_000]
    ledger = SqliteDeliveredTriggers(tmp_path / "d.sqlite", ttl_s=60, clock_ms=lambda: now[0])
    ledger.mark("k")
    now[0] += 59_000
    assert ledger.delivered("k")
    now[0] += 2_000
    assert not ledger.delivered("k")
    ledger.close()


@pytest.mark.integration
@pytest.mark.redis
def test_redis_keys_expire_and_share_no_slot() -> None:
    import redis

    with redis_server() as url:
        ledger = RedisDeliveredTriggers(url, "netcx", ttl_s=60)
        ledger.mark("dc_9/cvm")
        client = redis.Redis.from_url(url)
        (key,) = client.keys("netcx:trigger:*")
        assert key == b"netcx:trigger:{dc_9/cvm}:delivered"
        assert 0 < int(client.ttl(key)) <= 60  # type: ignore[arg-type]
        client.close()
        ledger.close()
