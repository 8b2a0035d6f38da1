"""Sign-in limits: per (user, address) and per address, sliding windows, bounded memory (in
process; the same limits over Redis are in tests/e2e/test_redis_rate_limits.py)."""

from __future__ import annotations

import asyncio

import pytest

from golive.accounts.attempt_store import LocalAttemptStore
from golive.accounts.attempt_window import AttemptWindow
from golive.accounts.login_rate_limit import LoginRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_five_failures_lock_the_pair_for_the_window() -> None:
    clock = Clock()
    limit = LoginRateLimit(attempts=5, window=300, attempt_store=LocalAttemptStore(clock=clock))
    for _ in range(4):
        await limit.failed("bob", "10.0.0.1")
        assert await limit.retry_after("bob", "10.0.0.1") == 0
    clock.now += 10
    await limit.failed("bob", "10.0.0.1")
    # Locked until the first failure leaves the window.
    assert await limit.retry_after("bob", "10.0.0.1") == pytest.approx(290)
    # Someone else, or bob from elsewhere, is not affected: no lock-out of a user by others.
    assert await limit.retry_after("bob", "10.0.0.2") == 0
    assert await limit.retry_after("alice", "10.0.0.1") == 0
    clock.now += 290
    assert await limit.retry_after("bob", "10.0.0.1") == 0


async def test_one_address_spraying_many_users_is_stopped() -> None:
    clock = Clock()
    limit = LoginRateLimit(
        attempts=5, address_attempts=30, window=300, attempt_store=LocalAttemptStore(clock=clock)
    )
    for i in range(30):
        await limit.failed(f"user{i}", "10.0.0.9")
    assert await limit.retry_after("someone-new", "10.0.0.9") > 0
    assert await limit.retry_after("someone-new", "10.0.0.8") == 0


async def test_success_forgives_the_pair_but_not_the_address() -> None:
    clock = Clock()
    limit = LoginRateLimit(
        attempts=3, address_attempts=5, window=300, attempt_store=LocalAttemptStore(clock=clock)
    )
    for _ in range(2):
        assert await limit.begin("bob", "10.0.0.1") == 0  # two wrong passwords
    assert await limit.begin("bob", "10.0.0.1") == 0  # the right one
    assert await limit.retry_after("bob", "10.0.0.1") > 0
    await limit.succeeded("bob", "10.0.0.1")
    assert await limit.retry_after("bob", "10.0.0.1") == 0
    # The address still remembers its 2 failures (not the success): 3 more lock it.
    for user in ("carol", "dave", "erin"):
        assert await limit.begin(user, "10.0.0.1") == 0
    assert await limit.retry_after("bob", "10.0.0.1") > 0


async def test_begin_counts_before_the_check_so_concurrent_attempts_stay_within_the_limit() -> None:
    # Forty attempts begun before any password was checked: only five may go ahead.
    limit = LoginRateLimit(
        attempts=5, address_attempts=30, window=300, attempt_store=LocalAttemptStore(clock=Clock())
    )
    waits = await asyncio.gather(*(limit.begin("bob", "10.0.0.1") for _ in range(40)))
    allowed = [wait == 0 for wait in waits]
    assert allowed.count(True) == 5


async def test_cancelled_attempt_is_given_back() -> None:
    limit = LoginRateLimit(
        attempts=2, address_attempts=30, window=300, attempt_store=LocalAttemptStore(clock=Clock())
    )
    assert await limit.begin("bob", "10.0.0.1") == 0
    assert await limit.begin("bob", "10.0.0.1") == 0
    assert await limit.begin("bob", "10.0.0.1") > 0
    await limit.cancelled("bob", "10.0.0.1")  # the server was too busy to check it
    assert await limit.begin("bob", "10.0.0.1") == 0


async def test_an_attempt_refused_by_its_address_does_not_count_for_its_pair() -> None:
    limit = LoginRateLimit(
        attempts=2, address_attempts=2, window=300, attempt_store=LocalAttemptStore(clock=Clock())
    )
    assert await limit.begin("bob", "10.0.0.1") == 0
    assert await limit.begin("carol", "10.0.0.1") == 0
    assert await limit.begin("dave", "10.0.0.1") > 0  # the address is spent
    await limit.cancelled("bob", "10.0.0.1")
    # dave's refused attempt left nothing behind: his pair still has both attempts.
    assert await limit.begin("dave", "10.0.0.1") == 0
    await limit.cancelled("carol", "10.0.0.1")
    assert await limit.begin("dave", "10.0.0.1") == 0


async def test_one_store_gives_the_same_counts_to_one_name() -> None:
    clock = Clock()
    store = LocalAttemptStore(clock=clock)
    first = store.counter("sign-up", limit=2, window=60)
    assert await first.take("10.0.0.1") == 0
    again = store.counter("sign-up", limit=1, window=60)  # a settings reload
    assert (again.limit, again.window) == (1, 60)
    assert await again.take("10.0.0.1") == pytest.approx(60)  # the first attempt still counts
    assert await store.counter("clip", limit=1, window=60).take("10.0.0.1") == 0
    await again.clear("10.0.0.1")
    assert await first.retry_after("10.0.0.1") == 0


def test_attempt_window_slides() -> None:
    clock = Clock()
    window = AttemptWindow(2, 10.0, clock=clock)
    window.record("k")
    clock.now += 6
    window.record("k")
    assert window.retry_after("k") == pytest.approx(4)
    clock.now += 4
    assert window.retry_after("k") == 0  # the first attempt left the window
    window.record("k")
    assert window.retry_after("k") == pytest.approx(6)
    window.clear("k")
    assert window.retry_after("k") == 0


def test_attempt_window_memory_is_bounded_and_keeps_recent_keys() -> None:
    clock = Clock()
    window = AttemptWindow(1, 60.0, max_keys=100, clock=clock)
    window.record("victim")
    for i in range(99):
        window.record(f"k{i}")
    window.record("victim")  # recorded again: now the most recent
    for i in range(99, 150):
        window.record(f"k{i}")
    assert len(window) == 100
    assert window.retry_after("k0") == 0  # the oldest were forgotten...
    assert window.retry_after("k50") == 0
    assert window.retry_after("k51") > 0
    assert window.retry_after("victim") > 0  # ...but not the one recorded again since
    for i in range(150, 250):
        window.record(f"k{i}")
    assert len(window) == 100
    assert window.retry_after("victim") == 0


def test_attempt_window_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        AttemptWindow(0, 10)
    with pytest.raises(ValueError):
        AttemptWindow(1, 0)
