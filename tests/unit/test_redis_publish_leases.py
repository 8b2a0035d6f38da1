"""RedisPublishLeases over fakeredis: key layout, reading, and an unreachable store.

fakeredis runs Lua only with the optional `lupa` package, which golive does not install:
the scripts (acquire, renew, release, fenced writes) are tested against a real
redis-server in tests/e2e/test_redis_publish_leases.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import fakeredis
import pytest

from golive.cluster.redis_publish_leases import (
    RedisPublishLeases,
    lease_key,
    state_key,
    token_key,
)
from golive.live.publish_lease import Lease, LeaseHolder, LeaseUnavailable

LEASE = Lease("news", "node-a", 1_700_000_000_001, 6.0)


@pytest.fixture
def leases(redis: fakeredis.FakeAsyncRedis) -> RedisPublishLeases:
    return RedisPublishLeases(redis, ttl=6.0)


def test_keys_are_namespaced_per_channel() -> None:
    assert lease_key("news") == "golive:lease:news"
    assert token_key("news") == "golive:lease-token:news"
    assert state_key("stream:news") == "golive:state:stream:news"


async def test_holder_reads_the_lease_hash(
    leases: RedisPublishLeases, redis: fakeredis.FakeAsyncRedis
) -> None:
    assert await leases.holder("news") is None
    await redis.hset(lease_key("news"), mapping={"holder": "node-a", "token": "42"})
    assert await leases.holder("news") == LeaseHolder("node-a", 42)
    assert await leases.holder("sport") is None


async def test_read_state_decodes_the_hash(
    leases: RedisPublishLeases, redis: fakeredis.FakeAsyncRedis
) -> None:
    assert await leases.read_state("stream:news") == {}
    await redis.hset(state_key("stream:news"), mapping={"node": "node-a", "fence_token": "42"})
    assert await leases.read_state("stream:news") == {"node": "node-a", "fence_token": "42"}


async def test_the_ttl_is_the_constructors(redis: fakeredis.FakeAsyncRedis) -> None:
    assert RedisPublishLeases(redis, ttl=2.5).ttl == 2.5
    with pytest.raises(ValueError):
        RedisPublishLeases(redis, ttl=0)


async def test_an_empty_fenced_write_is_a_mistake(leases: RedisPublishLeases) -> None:
    with pytest.raises(ValueError):
        await leases.fenced_set(LEASE, "stream:news", {})


def _operations(
    leases: RedisPublishLeases,
) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    return [
        ("acquire", lambda: leases.acquire("news", "node-a")),
        ("renew", lambda: leases.renew(LEASE)),
        ("release", lambda: leases.release(LEASE)),
        ("holder", lambda: leases.holder("news")),
        ("fenced_set", lambda: leases.fenced_set(LEASE, "stream:news", {"state": "live"})),
        ("read_state", lambda: leases.read_state("stream:news")),
    ]


async def test_every_operation_raises_lease_unavailable_when_the_server_is_gone(
    leases: RedisPublishLeases, fake_redis_server: fakeredis.FakeServer
) -> None:
    fake_redis_server.connected = False
    refused = []
    for name, operation in _operations(leases):
        with pytest.raises(LeaseUnavailable, match="cannot be reached"):
            await operation()
        refused.append(name)
    assert refused == ["acquire", "renew", "release", "holder", "fenced_set", "read_state"]
