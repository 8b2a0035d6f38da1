"""Rate limits shared by two nodes A and B through a real redis-server (two clients, one
server): one budget for both, whatever node an attempt reaches.

Attempt times are the nodes' injected wall clock, so the window slides without sleeping.
Each test uses its own limit names or keys, so none needs an empty server.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from golive.accounts.api_rate_limit import ApiRateLimit
from golive.accounts.attempt_store import LocalAttemptStore
from golive.accounts.login_rate_limit import LoginRateLimit
from golive.cluster.redis_attempt_window import RedisAttemptStore, rate_key
from golive.cluster.redis_client import redis_client
from golive.live.publish_attempts import PublishAttemptLimits, PublishAttempts
from tests.support.redis_server import RedisServer, running_redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Node:
    """One node's view: its own Redis client and store, on the shared clocks."""

    def __init__(self, url: str, wall: Clock, monotonic: Clock) -> None:
        self.redis: Redis = redis_client(url)
        self.store = RedisAttemptStore(
            self.redis,
            fallback=LocalAttemptStore(clock=monotonic),
            recheck_after=5.0,
            wall_clock=wall,
            clock=monotonic,
        )


@pytest.fixture
def wall() -> Clock:
    return Clock(time.time())


@pytest.fixture
def monotonic() -> Clock:
    return Clock(1000.0)


@pytest.fixture
async def nodes(
    redis_server: RedisServer, wall: Clock, monotonic: Clock
) -> AsyncIterator[tuple[Node, Node]]:
    a, b = Node(redis_server.url, wall, monotonic), Node(redis_server.url, wall, monotonic)
    yield a, b
    await a.redis.aclose()
    await b.redis.aclose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_twenty_concurrent_attempts_over_two_nodes_spend_one_budget_of_five(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    name = unique("budget")
    counters = [node.store.counter(name, limit=5, window=300) for node in (a, b)]
    waits = await asyncio.gather(*(counters[i % 2].take("10.0.0.1") for i in range(20)))
    assert sum(1 for wait in waits if wait == 0) == 5
    assert all(0 < wait <= 300 for wait in waits if wait != 0)
    assert await a.redis.zcard(rate_key(name, "10.0.0.1")) == 5
    # Both nodes see the key spent; another key is untouched.
    assert await counters[0].retry_after("10.0.0.1") > 0
    assert await counters[1].retry_after("10.0.0.1") > 0
    assert await counters[1].take("10.0.0.2") == 0


async def test_two_nodes_sign_in_limits_share_one_budget(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    limits = [
        LoginRateLimit(attempts=5, address_attempts=30, window=300, attempt_store=node.store)
        for node in (a, b)
    ]
    user, address = unique("bob"), "10.9.9.9"
    waits = await asyncio.gather(*(limits[i % 2].begin(user, address) for i in range(20)))
    assert sum(1 for wait in waits if wait == 0) == 5
    assert await limits[0].retry_after(user, address) > 0
    # A sign-in that succeeded on B forgives the pair on A too.
    await limits[1].succeeded(user, address)
    assert await limits[0].retry_after(user, address) == 0
    assert await limits[0].begin(user, address) == 0


async def test_the_window_slides_and_the_keys_expire_with_it(
    nodes: tuple[Node, Node], wall: Clock
) -> None:
    a, b = nodes
    name = unique("window")
    on_a = a.store.counter(name, limit=2, window=60)
    on_b = b.store.counter(name, limit=2, window=60)
    assert await on_a.take("k") == 0
    wall.now += 20
    assert await on_b.take("k") == 0
    assert await on_a.take("k") == pytest.approx(40)  # when the first attempt leaves
    ttl = await a.redis.pttl(rate_key(name, "k"))
    assert 0 < ttl <= 60_000  # Redis forgets an idle key after one window
    wall.now += 40
    assert await on_b.retry_after("k") == 0
    assert await on_b.take("k") == 0  # the first attempt left the window
    assert await on_a.take("k") == pytest.approx(20)  # the second has 20 s to go


async def test_retry_after_is_the_same_on_every_node(nodes: tuple[Node, Node], wall: Clock) -> None:
    a, b = nodes
    name = unique("retry")
    on_a = a.store.counter(name, limit=3, window=60)
    on_b = b.store.counter(name, limit=3, window=60)
    for node in (on_a, on_b, on_a):
        assert await node.take("k") == 0
        wall.now += 10
    assert await on_a.retry_after("k") == pytest.approx(30)
    assert await on_b.retry_after("k") == pytest.approx(30)
    assert await on_b.take("k") == pytest.approx(30)


async def test_an_attempt_given_back_on_one_node_is_free_on_the_other(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    name = unique("give-back")
    on_a = a.store.counter(name, limit=2, window=300)
    on_b = b.store.counter(name, limit=2, window=300)
    assert await on_a.take("k") == 0
    assert await on_a.take("k") == 0
    assert await on_b.take("k") > 0
    await on_a.give_back("k")
    assert await on_b.take("k") == 0
    assert await on_a.take("k") > 0
    await on_b.clear("k")
    assert await on_a.retry_after("k") == 0
    assert await a.redis.exists(rate_key(name, "k")) == 0


async def test_failed_publishes_on_two_nodes_start_one_cool_down(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    limits = PublishAttemptLimits(limit=4, window=60.0, cooldown=30.0)
    on_a = PublishAttempts(limits, shared=a.store)
    on_b = PublishAttempts(limits, shared=b.store)
    address = unique("10.7")
    assert not await on_a.failed(address)
    assert not await on_b.failed(address)
    assert not await on_a.failed(address)
    assert await on_b.failed(address)  # the fourth, wherever it landed
    assert await on_a.retry_after(address) == pytest.approx(30)
    assert await on_b.retry_after(address) == pytest.approx(30)


async def test_an_outage_falls_back_to_each_node_and_redis_takes_over_again(
    wall: Clock, monotonic: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="golive.cluster.rate")
    with running_redis_server() as server:
        a, b = Node(server.url, wall, monotonic), Node(server.url, wall, monotonic)
        try:
            on_a = a.store.counter("sign-up", limit=3, window=3600)
            on_b = b.store.counter("sign-up", limit=3, window=3600)
            assert await on_a.take("10.0.0.1") == 0
            assert await on_b.take("10.0.0.1") == 0
            server.stop()
            # No sign-up is refused for the outage itself: each node counts alone.
            assert [await on_a.take("10.0.0.1") for _ in range(3)] == [0, 0, 0]
            assert await on_a.take("10.0.0.1") > 0  # still limited, per node
            assert await on_b.take("10.0.0.1") == 0
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 2  # one per node
            server.start()  # empty: the restart lost the counts
            monotonic.now += 5.1
            assert await on_a.take("10.0.0.1") == 0  # back in Redis
            assert await on_b.take("10.0.0.1") == 0
            assert await a.redis.zcard(rate_key("sign-up", "10.0.0.1")) == 2
            assert await on_b.take("10.0.0.1") == 0
            assert await on_a.take("10.0.0.1") > 0  # one budget again
            assert sum("answers again" in r.getMessage() for r in caplog.records) == 2
        finally:
            await a.redis.aclose()
            await b.redis.aclose()


async def test_an_api_tokens_requests_over_two_nodes_spend_one_budget(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    limits = [ApiRateLimit(node.store, lambda: 10) for node in (a, b)]
    token = int(uuid.uuid4().int % 1_000_000_000)
    waits = await asyncio.gather(*(limits[i % 2].take(token) for i in range(30)))
    assert sum(1 for wait in waits if wait == 0) == 10
    assert all(0 < wait <= 60 for wait in waits if wait != 0)
