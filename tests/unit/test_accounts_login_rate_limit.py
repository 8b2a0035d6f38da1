"""Sign-in limits: per (user, address) and per address, sliding windows, bounded memory."""

from __future__ import annotations

import pytest

from golive.accounts.attempt_window import AttemptWindow
from golive.accounts.login_rate_limit import LoginRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_lock_the_pair_for_the_window() -> None:
    clock = Clock()
    limit = LoginRateLimit(attempts=5, window=300, clock=clock)
    for _ in range(4):
        limit.failed("bob", "10.0.0.1")
        assert limit.retry_after("bob", "10.0.0.1") == 0
    clock.now += 10
    limit.failed("bob", "10.0.0.1")
    # Locked until the first failure leaves the window.
    assert limit.retry_after("bob", "10.0.0.1") == pytest.approx(290)
    # Someone else, or bob from elsewhere, is not affected: no lock-out of a user by others.
    assert limit.retry_after("bob", "10.0.0.2") == 0
    assert limit.retry_after("alice", "10.0.0.1") == 0
    clock.now += 290
    assert limit.retry_after("bob", "10.0.0.1") == 0


def test_one_address_spraying_many_users_is_stopped() -> None:
    clock = Clock()
    limit = LoginRateLimit(attempts=5, address_attempts=30, window=300, clock=clock)
    for i in range(30):
        limit.failed(f"user{i}", "10.0.0.9")
    assert limit.retry_after("someone-new", "10.0.0.9") > 0
    assert limit.retry_after("someone-new", "10.0.0.8") == 0


def test_success_forgives_the_pair_but_not_the_address() -> None:
    clock = Clock()
    limit = LoginRateLimit(attempts=3, address_attempts=5, window=300, clock=clock)
    for _ in range(2):
        assert limit.begin("bob", "10.0.0.1") == 0  # two wrong passwords
    assert limit.begin("bob", "10.0.0.1") == 0  # the right one
    assert limit.retry_after("bob", "10.0.0.1") > 0
    limit.succeeded("bob", "10.0.0.1")
    assert limit.retry_after("bob", "10.0.0.1") == 0
    # The address still remembers its 2 failures (not the success): 3 more lock it.
    for user in ("carol", "dave", "erin"):
        assert limit.begin(user, "10.0.0.1") == 0
    assert limit.retry_after("bob", "10.0.0.1") > 0


def test_begin_counts_before_the_check_so_concurrent_attempts_stay_within_the_limit() -> None:
    # Forty attempts begun before any password was checked: only five may go ahead.
    limit = LoginRateLimit(attempts=5, address_attempts=30, window=300, clock=Clock())
    allowed = [limit.begin("bob", "10.0.0.1") == 0 for _ in range(40)]
    assert allowed.count(True) == 5


def test_cancelled_attempt_is_given_back() -> None:
    limit = LoginRateLimit(attempts=2, address_attempts=30, window=300, clock=Clock())
    assert limit.begin("bob", "10.0.0.1") == 0
    assert limit.begin("bob", "10.0.0.1") == 0
    assert limit.begin("bob", "10.0.0.1") > 0
    limit.cancelled("bob", "10.0.0.1")  # the server was too busy to check it
    assert limit.begin("bob", "10.0.0.1") == 0


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
