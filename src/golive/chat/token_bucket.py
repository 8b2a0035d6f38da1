"""A token bucket: ``burst`` messages at once, then ``rate`` per second."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self) -> float:
        """Take one token: 0.0 if there was one, else the seconds until there is."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    def charge(self) -> None:
        """Spend a token for a message accepted elsewhere (another node's copy of the room):
        never refused, it may leave the bucket in debt, down to ``-burst``, so the next
        message taken here waits for what the other node let through."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens = max(-self.burst, self._tokens - 1)

    def full_at(self) -> float:
        """When the bucket will be full again (a user state can be forgotten then)."""
        return self._at + (self.burst - self._tokens) / self.rate
