"""Failed publishes per address: the cool-down after too many, on an injected clock, counted
in the process's own memory and through shared attempt counters (the in-process store here;
Redis in tests/e2e/test_redis_rate_limits.py)."""

from __future__ import annotations

import pytest

from golive.accounts.attempt_store import LocalAttemptStore
from golive.live.publish_attempts import PublishAttemptLimits, PublishAttempts, peer_host


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["own memory", "shared counters"])
def counting(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def attempts(clock: Clock, counting: str, **kw: float) -> PublishAttempts:
    limits = PublishAttemptLimits(**{"limit": 10, "window": 60.0, "cooldown": 60.0, **kw})  # type: ignore[arg-type]
    if counting == "shared counters":
        return PublishAttempts(limits, shared=LocalAttemptStore(clock=clock))
    return PublishAttempts(limits, clock=clock)


async def test_tenth_failure_within_the_window_starts_the_cooldown(counting: str) -> None:
    clock = Clock()
    a = attempts(clock, counting)
    for _ in range(9):
        assert not await a.failed("10.0.0.1")
        clock.now += 1
    assert await a.retry_after("10.0.0.1") == 0
    assert await a.failed("10.0.0.1")
    assert await a.retry_after("10.0.0.1") == pytest.approx(60.0)
    clock.now += 59.5
    assert await a.retry_after("10.0.0.1") == pytest.approx(0.5)
    clock.now += 1
    assert await a.retry_after("10.0.0.1") == 0
    # The cool-down wiped the slate: one more failure does not start another.
    assert not await a.failed("10.0.0.1")


async def test_failures_older_than_the_window_do_not_count(counting: str) -> None:
    clock = Clock()
    a = attempts(clock, counting)
    for _ in range(20):
        assert not await a.failed("10.0.0.1")
        clock.now += 7  # at most 9 failures in any 60 s
    assert await a.retry_after("10.0.0.1") == 0


async def test_addresses_are_counted_apart(counting: str) -> None:
    clock = Clock()
    a = attempts(clock, counting, limit=2)
    await a.failed("10.0.0.1")
    assert await a.failed("10.0.0.1")
    assert await a.retry_after("10.0.0.1") > 0
    assert await a.retry_after("10.0.0.2") == 0
    assert not await a.failed("10.0.0.2")


async def test_limit_zero_turns_it_off(counting: str) -> None:
    a = attempts(Clock(), counting, limit=0)
    assert not any([await a.failed("10.0.0.1") for _ in range(100)])
    assert await a.retry_after("10.0.0.1") == 0


async def test_new_limits_apply_to_the_counts_so_far(counting: str) -> None:
    clock = Clock()
    a = attempts(clock, counting, limit=5)
    for _ in range(3):
        assert not await a.failed("10.0.0.1")
    a.limits = PublishAttemptLimits(limit=4, window=60.0, cooldown=30.0)  # settings reload
    assert await a.failed("10.0.0.1")
    assert await a.retry_after("10.0.0.1") == pytest.approx(30.0)
    a.limits = PublishAttemptLimits(limit=0)
    assert not await a.failed("10.0.0.2")


async def test_memory_is_bounded() -> None:
    clock = Clock()
    a = PublishAttempts(PublishAttemptLimits(limit=3), max_addresses=100, clock=clock)
    for i in range(10_000):
        await a.failed(f"10.0.{i // 256}.{i % 256}")
        await a.failed(f"10.1.{i // 256}.{i % 256}")
        await a.failed(f"10.1.{i // 256}.{i % 256}")
        await a.failed(f"10.1.{i // 256}.{i % 256}")
    assert len(a) <= 200


@pytest.mark.parametrize(
    ("peer", "host"),
    [("127.0.0.1:5000", "127.0.0.1"), ("[::1]:5000", "::1"), ("?", "?")],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host
