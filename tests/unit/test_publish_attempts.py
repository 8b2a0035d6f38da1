"""Failed publishes per address: the cool-down after too many, on an injected clock."""

from __future__ import annotations

import pytest

from golive.live.publish_attempts import PublishAttemptLimits, PublishAttempts, peer_host


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def attempts(clock: Clock, **kw: float) -> PublishAttempts:
    limits = PublishAttemptLimits(**{"limit": 10, "window": 60.0, "cooldown": 60.0, **kw})  # type: ignore[arg-type]
    return PublishAttempts(limits, clock=clock)


def test_tenth_failure_within_the_window_starts_the_cooldown() -> None:
    clock = Clock()
    a = attempts(clock)
    for _ in range(9):
        assert not a.failed("10.0.0.1")
        clock.now += 1
    assert a.retry_after("10.0.0.1") == 0
    assert a.failed("10.0.0.1")
    assert a.retry_after("10.0.0.1") == pytest.approx(60.0)
    clock.now += 59.5
    assert a.retry_after("10.0.0.1") == pytest.approx(0.5)
    clock.now += 1
    assert a.retry_after("10.0.0.1") == 0
    # The cool-down wiped the slate: one more failure does not start another.
    assert not a.failed("10.0.0.1")


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    a = attempts(clock)
    for _ in range(20):
        assert not a.failed("10.0.0.1")
        clock.now += 7  # at most 9 failures in any 60 s
    assert a.retry_after("10.0.0.1") == 0


def test_addresses_are_counted_apart() -> None:
    clock = Clock()
    a = attempts(clock, limit=2)
    a.failed("10.0.0.1")
    assert a.failed("10.0.0.1")
    assert a.retry_after("10.0.0.1") > 0
    assert a.retry_after("10.0.0.2") == 0
    assert not a.failed("10.0.0.2")


def test_limit_zero_turns_it_off() -> None:
    a = attempts(Clock(), limit=0)
    assert not any(a.failed("10.0.0.1") for _ in range(100))
    assert a.retry_after("10.0.0.1") == 0


def test_memory_is_bounded() -> None:
    clock = Clock()
    a = PublishAttempts(PublishAttemptLimits(limit=3), max_addresses=100, clock=clock)
    for i in range(10_000):
        a.failed(f"10.0.{i // 256}.{i % 256}")
        a.failed(f"10.1.{i // 256}.{i % 256}")
        a.failed(f"10.1.{i // 256}.{i % 256}")
        a.failed(f"10.1.{i // 256}.{i % 256}")
    assert len(a) <= 200


@pytest.mark.parametrize(
    ("peer", "host"),
    [("127.0.0.1:5000", "127.0.0.1"), ("[::1]:5000", "::1"), ("?", "?")],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host
