"""Publish leases in a real redis-server, between two nodes A and B (two clients, one server).

Lease expiry is the server's clock, so these tests wait in real time, on short ttls, polling
for the state they expect rather than sleeping a guessed amount.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from redis.asyncio import Redis

from golive.cluster.redis_publish_leases import RedisPublishLeases, lease_key
from golive.live.lease_keeper import REASON_NOT_RENEWED, REASON_TAKEN, LeaseKeeper
from golive.live.publish_lease import (
    DEFAULT_LEASE_TTL,
    FENCE_TOKEN_FIELD,
    Lease,
    LeaseHolder,
    LeaseUnavailable,
)
from tests.support.redis_server import RedisServer, running_redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

TTL = 1.5
MARGIN = 0.4
WAIT = 10.0


class LostLeases:
    """The keeper's on_lost: records each loss and when it came."""

    def __init__(self) -> None:
        self.calls: list[tuple[Lease, str]] = []
        self.at: float | None = None
        self.event = asyncio.Event()

    def __call__(self, lease: Lease, reason: str) -> None:
        self.calls.append((lease, reason))
        self.at = time.monotonic()
        self.event.set()

    async def wait(self) -> None:
        await asyncio.wait_for(self.event.wait(), WAIT)


class PausableSleep:
    """A node's sleep that can be frozen, as a stalled process (a long GC, SIGSTOP) is."""

    def __init__(self) -> None:
        self.running = asyncio.Event()
        self.running.set()

    async def __call__(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.running.wait()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def channel() -> str:
    return f"chan-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[tuple[RedisPublishLeases, ...]]:
    a = RedisPublishLeases.from_url(redis_server.url, ttl=TTL)
    b = RedisPublishLeases.from_url(redis_server.url, ttl=TTL)
    yield a, b
    await a.close()
    await b.close()


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of this test's own, so taking it away does not disturb the session's."""
    with running_redis_server() as server:
        yield server


async def test_a_paused_node_whose_lease_expired_cannot_write(
    nodes: tuple[RedisPublishLeases, RedisPublishLeases], channel: str
) -> None:
    a, b = nodes
    lost = LostLeases()
    pause = PausableSleep()
    # The keeper golive runs (no self-fencing): A learns it lost the channel when it wakes.
    keeper_a = LeaseKeeper(a, "node-a", on_lost=lost, safety_margin=MARGIN, sleep=pause)
    lease_a = await keeper_a.acquire(channel)
    assert lease_a is not None
    assert await b.acquire(channel, "node-b") is None
    assert await a.fenced_set(lease_a, f"stream:{channel}", {"node": "node-a", "state": "live"})

    # Renewals keep it past its ttl.
    await asyncio.sleep(TTL * 1.5)
    assert await b.holder(channel) == LeaseHolder("node-a", lease_a.token)
    assert await b.acquire(channel, "node-b") is None

    pause.running.clear()

    async def expired() -> bool:
        return await b.holder(channel) is None

    await eventually(expired, "A's lease expires in Redis")
    lease_b = await b.acquire(channel, "node-b")
    assert lease_b is not None
    assert lease_b.token > lease_a.token

    # A wakes up still believing it is the publisher: its writes are fenced off.
    assert not await a.fenced_set(lease_a, f"stream:{channel}", {"node": "node-a"})
    assert await b.fenced_set(lease_b, f"stream:{channel}", {"node": "node-b"})
    assert await b.read_state(f"stream:{channel}") == {
        "node": "node-b",
        "state": "live",
        FENCE_TOKEN_FIELD: str(lease_b.token),
    }
    assert not await a.renew(lease_a)

    pause.running.set()
    await lost.wait()
    assert lost.calls == [(lease_a, REASON_TAKEN)]
    assert keeper_a.lease(channel) is None
    assert await b.holder(channel) == LeaseHolder("node-b", lease_b.token)
    await b.release(lease_b)


async def test_the_keeper_reports_at_once_a_lease_another_node_took(
    nodes: tuple[RedisPublishLeases, RedisPublishLeases], channel: str, redis_server: RedisServer
) -> None:
    a, b = nodes
    lost = LostLeases()
    keeper_a = LeaseKeeper(a, "node-a", on_lost=lost, safety_margin=MARGIN)
    lease_a = await keeper_a.acquire(channel)
    assert lease_a is not None
    # The lease vanishes from Redis (as after a failover that lost it) and B takes the channel.
    async with Redis.from_url(redis_server.url) as admin:
        assert await admin.delete(lease_key(channel)) == 1
    lease_b = await b.acquire(channel, "node-b")
    assert lease_b is not None
    taken = time.monotonic()
    await lost.wait()
    assert lost.calls == [(lease_a, REASON_TAKEN)]
    assert lost.at is not None and lost.at - taken <= TTL / 3 + 1.0  # the next renewal
    await b.release(lease_b)


async def test_leases_follow_the_holder_and_token(
    nodes: tuple[RedisPublishLeases, RedisPublishLeases], channel: str
) -> None:
    a, b = nodes
    first = await a.acquire(channel, "node-a")
    assert first is not None
    # A again (say after its publisher reconnected): a new token, the old lease is dead.
    second = await a.acquire(channel, "node-a")
    assert second is not None
    assert second.token > first.token
    assert not await a.renew(first)
    assert not await a.fenced_set(first, f"stream:{channel}", {"state": "live"})
    assert await a.renew(second)
    await a.release(first)
    await b.release(Lease(channel, "node-b", second.token, TTL))
    assert await b.holder(channel) == LeaseHolder("node-a", second.token)
    await a.release(second)
    assert await b.holder(channel) is None
    third = await b.acquire(channel, "node-b")
    assert third is not None
    assert third.token > second.token
    await b.release(third)


async def test_a_killed_nodes_lease_expires_within_ten_seconds(redis_server: RedisServer) -> None:
    leases = RedisPublishLeases.from_url(redis_server.url)
    channel = f"chan-{uuid.uuid4().hex[:8]}"
    try:
        assert leases.ttl == DEFAULT_LEASE_TTL
        lease = await leases.acquire(channel, "node-a")
        assert lease is not None
        async with Redis.from_url(redis_server.url) as admin:
            remaining_ms = await admin.pttl(lease_key(channel))
        # Nothing renews it once the node is gone: it ends by its ttl.
        assert 0 < remaining_ms <= DEFAULT_LEASE_TTL * 1000 < 10_000
    finally:
        await leases.close()


async def test_tokens_keep_growing_across_a_restart_that_lost_the_data(
    own_server: RedisServer,
) -> None:
    wall = [1_000.0]
    leases = RedisPublishLeases.from_url(own_server.url, ttl=TTL, wall_clock=lambda: wall[0])
    try:
        first = await leases.acquire("news", "node-a")
        assert first is not None
        assert first.token == 1_000_000  # a new counter starts at the wall clock in ms
        await leases.release(first)
        second = await leases.acquire("news", "node-a")
        assert second is not None
        assert second.token == 1_000_001  # the clock did not move: the counter did
        own_server.stop()
        own_server.start()
        wall[0] = 1_000.5
        third = await leases.acquire("news", "node-a")
        assert third is not None
        assert third.token == 1_000_500
    finally:
        await leases.close()


async def test_a_redis_outage_refuses_publishes_and_keeps_the_running_ones(
    own_server: RedisServer,
) -> None:
    ttl = 3.0
    a = RedisPublishLeases.from_url(own_server.url, ttl=ttl, command_timeout=0.5)
    b = RedisPublishLeases.from_url(own_server.url, ttl=ttl, command_timeout=0.5)
    lost = LostLeases()
    keeper_a = LeaseKeeper(a, "node-a", on_lost=lost, safety_margin=0.9)
    try:
        lease_a = await keeper_a.acquire("news")
        assert lease_a is not None
        own_server.stop()
        with pytest.raises(LeaseUnavailable):
            await b.acquire("sport", "node-b")
        with pytest.raises(LeaseUnavailable):
            await keeper_a.acquire("music")
        await asyncio.sleep(2 * ttl)  # well past the ttl: the stream is still A's
        assert lost.calls == []
        assert keeper_a.lease("news") == lease_a

        # Redis is back without its data: A takes its channel again, with a larger token,
        # before B (whose publisher would be refused) can.
        own_server.start()

        async def retaken() -> bool:
            kept = keeper_a.lease("news")
            return kept is not None and kept.token > lease_a.token

        await eventually(retaken, "A takes its lease again")
        kept = keeper_a.lease("news")
        assert kept is not None
        assert await b.holder("news") == LeaseHolder("node-a", kept.token)
        assert await b.acquire("news", "node-b") is None
        assert lost.calls == []
    finally:
        await keeper_a.close()
        await a.close()
        await b.close()


async def test_a_self_fencing_keeper_stops_before_redis_could_let_the_lease_go(
    own_server: RedisServer,
) -> None:
    ttl, margin = 3.0, 0.9
    a = RedisPublishLeases.from_url(own_server.url, ttl=ttl, command_timeout=0.5)
    b = RedisPublishLeases.from_url(own_server.url, ttl=ttl, command_timeout=0.5)
    lost = LostLeases()
    keeper_a = LeaseKeeper(a, "node-a", on_lost=lost, safety_margin=margin, fence_on_outage=True)
    try:
        lease_a = await keeper_a.acquire("news")
        assert lease_a is not None
        own_server.stop()
        stopped = time.monotonic()
        with pytest.raises(LeaseUnavailable):
            await b.acquire("sport", "node-b")
        with pytest.raises(LeaseUnavailable):
            await keeper_a.acquire("music")
        await lost.wait()
        assert lost.calls == [(lease_a, REASON_NOT_RENEWED)]
        # At most ttl - margin after its last renewal: before Redis could have let it go.
        assert lost.at is not None and lost.at - stopped < ttl

        own_server.start()
        lease_b = await b.acquire("news", "node-b")
        assert lease_b is not None
        assert lease_b.token > lease_a.token
    finally:
        await keeper_a.close()
        await a.close()
        await b.close()


async def test_a_frozen_redis_refuses_publishes_within_the_command_timeout(
    own_server: RedisServer,
) -> None:
    leases = RedisPublishLeases.from_url(own_server.url, ttl=TTL, command_timeout=0.5)
    try:
        assert await leases.holder("news") is None  # connected before the freeze
        own_server.pause()
        started = time.monotonic()
        with pytest.raises(LeaseUnavailable):
            await leases.acquire("news", "node-a")
        assert time.monotonic() - started < 3.0
        own_server.resume()
        assert await leases.acquire("news", "node-a") is not None
    finally:
        own_server.resume()
        await leases.close()
