"""ApiRateLimit: a budget per API token, and unknown tokens counted per address."""

from __future__ import annotations

import logging

import pytest

from golive.accounts.api_rate_limit import AUTH_FAILURES_PER_MINUTE, ApiRateLimit
from golive.accounts.attempt_store import LocalAttemptStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_token_gets_its_budget_per_minute_then_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    per_minute = [3]
    limit = ApiRateLimit(LocalAttemptStore(clock=clock), lambda: per_minute[0], clock=clock)
    with caplog.at_level(logging.WARNING, logger="golive.accounts"):
        assert [await limit.take(7) for _ in range(3)] == [0.0, 0.0, 0.0]
        waits = [await limit.take(7) for _ in range(5)]
    assert all(0 < wait <= 60 for wait in waits)
    assert await limit.take(8) == 0.0  # another token has its own budget
    # One warning for the token, not one per refused request.
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "token 7" in lines[0] and "3 requests per minute" in lines[0]
    clock.now += 60.0
    assert await limit.take(7) == 0.0
    per_minute[0] = 0  # off (the setting is read on every request)
    assert all([await limit.take(7) == 0.0 for _ in range(100)])


async def test_unknown_tokens_from_one_address_are_held_back() -> None:
    clock = Clock()
    limit = ApiRateLimit(LocalAttemptStore(clock=clock), lambda: 600, clock=clock)
    for _ in range(AUTH_FAILURES_PER_MINUTE):
        assert await limit.auth_wait("203.0.113.5") == 0.0
        await limit.auth_failed("203.0.113.5")
    assert 0 < await limit.auth_wait("203.0.113.5") <= 60
    assert await limit.auth_wait("203.0.113.6") == 0.0
    clock.now += 61.0
    assert await limit.auth_wait("203.0.113.5") == 0.0
