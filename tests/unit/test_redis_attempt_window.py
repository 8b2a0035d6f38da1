"""RedisAttemptStore over fakeredis: key layout, reading, giving back, clearing, and the
fall-back to this node's memory while Redis cannot be reached.

fakeredis runs Lua only with the optional `lupa` package, which golive does not install:
``take`` (one script) is tested against a real redis-server in
tests/e2e/test_redis_rate_limits.py. Here a fallen-back ``take`` never reaches the script.
"""

from __future__ import annotations

import logging

import fakeredis
import pytest

from golive.accounts.attempt_store import LocalAttemptStore
from golive.cluster.redis_attempt_window import RedisAttemptStore, rate_key

NOW = 1_700_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> Clock:
    return Clock(NOW)


@pytest.fixture
def monotonic() -> Clock:
    return Clock(100.0)


@pytest.fixture
def store(redis: fakeredis.FakeAsyncRedis, wall: Clock, monotonic: Clock) -> RedisAttemptStore:
    return RedisAttemptStore(
        redis,
        fallback=LocalAttemptStore(clock=monotonic),
        recheck_after=5.0,
        wall_clock=wall,
        clock=monotonic,
    )


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def test_keys_are_namespaced_per_limit() -> None:
    assert rate_key("sign-up", "10.0.0.1") == "golive:rate:sign-up:10.0.0.1"
    assert rate_key("sign-in-pair", "bob\x0010.0.0.1") == "golive:rate:sign-in-pair:bob\x0010.0.0.1"


def test_nonsense_limits_are_refused(store: RedisAttemptStore) -> None:
    with pytest.raises(ValueError):
        store.counter("clip", limit=0, window=60)
    with pytest.raises(ValueError):
        store.counter("clip", limit=1, window=0)


async def test_retry_after_waits_for_the_limit_th_latest_attempt(
    store: RedisAttemptStore, redis: fakeredis.FakeAsyncRedis, wall: Clock
) -> None:
    counter = store.counter("sign-up", limit=2, window=60)
    assert (counter.limit, counter.window) == (2, 60)
    key = rate_key("sign-up", "10.0.0.1")
    await redis.zadd(key, {"a": ms(NOW - 50)})  # left the window within 10 s
    assert await counter.retry_after("10.0.0.1") == 0  # one attempt: under the limit
    await redis.zadd(key, {"b": ms(NOW - 20), "c": ms(NOW - 5)})
    # Three in the set, the limit is 2: free again when the second latest (b) leaves.
    assert await counter.retry_after("10.0.0.1") == pytest.approx(40)
    wall.now += 40
    assert await counter.retry_after("10.0.0.1") == 0
    assert await counter.retry_after("10.0.0.2") == 0


async def test_an_attempt_dated_ahead_waits_one_window_at_most(
    store: RedisAttemptStore, redis: fakeredis.FakeAsyncRedis
) -> None:
    # Another node's clock running ahead must not lock a key for longer than a window.
    counter = store.counter("clip", limit=1, window=60)
    await redis.zadd(rate_key("clip", "7"), {"a": ms(NOW + 3600)})
    assert await counter.retry_after("7") == pytest.approx(60)


async def test_give_back_removes_the_latest_attempt_and_clear_all(
    store: RedisAttemptStore, redis: fakeredis.FakeAsyncRedis
) -> None:
    counter = store.counter("sign-in-address", limit=5, window=300)
    key = rate_key("sign-in-address", "10.0.0.1")
    await redis.zadd(key, {"a": ms(NOW - 30), "b": ms(NOW - 20), "c": ms(NOW - 10)})
    await counter.give_back("10.0.0.1")
    assert await redis.zrange(key, 0, -1) == [b"a", b"b"]
    await counter.give_back("10.0.0.9")  # nothing to give back: nothing happens
    await counter.clear("10.0.0.1")
    assert await redis.exists(key) == 0


async def test_an_unreachable_redis_falls_back_to_this_node_with_one_warning(
    store: RedisAttemptStore,
    fake_redis_server: fakeredis.FakeServer,
    monotonic: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="golive.cluster.rate")
    counter = store.counter("sign-in-pair", limit=2, window=300)
    fake_redis_server.connected = False
    # The limit holds on this node meanwhile, in its memory.
    assert await counter.take("k") == 0
    assert await counter.take("k") == 0
    assert await counter.take("k") == pytest.approx(300)
    await counter.give_back("k")
    assert await counter.retry_after("k") == 0
    await counter.clear("k")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "counting on this node only" in warnings[0].getMessage()


async def test_redis_is_tried_again_after_the_recheck_interval(
    store: RedisAttemptStore,
    fake_redis_server: fakeredis.FakeServer,
    redis: fakeredis.FakeAsyncRedis,
    monotonic: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="golive.cluster.rate")
    counter = store.counter("sign-up", limit=1, window=60)
    fake_redis_server.connected = False
    assert await counter.take("10.0.0.1") == 0  # counted on this node
    fake_redis_server.connected = True
    await redis.zadd(rate_key("sign-up", "10.0.0.2"), {"a": ms(NOW)})
    # Within the recheck interval Redis is not asked: the local count answers.
    monotonic.now += 4.9
    assert await counter.retry_after("10.0.0.1") == pytest.approx(55.1)
    assert await counter.retry_after("10.0.0.2") == 0
    # After it, Redis answers again, and its counts are the ones that hold.
    monotonic.now += 0.2
    assert await counter.retry_after("10.0.0.2") == pytest.approx(60)
    assert await counter.retry_after("10.0.0.1") == 0
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_failed_recheck_keeps_the_fallback_without_another_warning(
    store: RedisAttemptStore,
    fake_redis_server: fakeredis.FakeServer,
    monotonic: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="golive.cluster.rate")
    counter = store.counter("clip", limit=1, window=60)
    fake_redis_server.connected = False
    for _ in range(4):
        await counter.retry_after("7")
        monotonic.now += 6
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert not any("answers again" in r.getMessage() for r in caplog.records)
