"""Redis adapters use Cluster-safe keys: each key carries exactly one hash tag."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from netcx.adapters.storage._redis import client
from netcx.adapters.storage.redis_audit import RedisAuditLog
from netcx.adapters.storage.redis_consent import RedisConsentLedger
from netcx.adapters.storage.redis_identity import RedisIdentityStore
from netcx.domain.consent import ConsentDecision, Purpose
from netcx.domain.identity import Edge, EdgeSource
from netcx.domain.privacy import AuditAction, AuditRecord
from tests.contract.privacy_backends import redis_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.redis

V, L = "vi1_" + "a" * 24, "ln1_" + "b" * 24
ONE_TAG = re.compile(r"^p:\{[^{}]+\}:[a-z]+$")


@pytest.fixture
def r(redis_url: str) -> Iterator[object]:  # noqa: F811
    c = client(redis_url)
    c.flushdb()
    yield c
    c.close()


def test_every_key_has_one_hash_tag(r: object) -> None:
    RedisIdentityStore(r, "p").put_edges(  # type: ignore[arg-type]
        [Edge(V, L, EdgeSource.NETWORK, 0.9, 1, 1, ttl_s=60)]
    )
    RedisConsentLedger(r, "p").append(  # type: ignore[arg-type]
        ConsentDecision(V, Purpose.ANALYTICS, True, 1, "tag", "v1")
    )
    RedisAuditLog(r, "p").append([AuditRecord(1, AuditAction.RESOLVE, "web", subject=V)])  # type: ignore[arg-type]
    keys = sorted(k.decode() for k in r.keys("*"))  # type: ignore[attr-defined]
    assert len(keys) == 7, keys
    assert all(ONE_TAG.match(k) for k in keys), keys


def test_an_unreachable_redis_is_unavailable() -> None:
    from netcx.errors import Unavailable
    from tests.servers import free_port

    down = client(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(Unavailable, match="redis unavailable"):
        RedisConsentLedger(down, "p").history(V)
    with pytest.raises(Unavailable):
        RedisIdentityStore(down, "p").put_edges([Edge(V, L, EdgeSource.LOGIN, 1.0, 1, 1)])
