"""Failed publish attempts per remote address, and the cool-down that follows too many.

Stream keys are secrets sent in the clear over RTMP's URL; guessing one by brute force is
hopeless for generated keys but not for short hand-set ones, and every attempt costs a
database lookup. An address that fails ``limit`` times within ``window`` seconds is refused
outright (even with a valid key, so a guesser cannot tell a hit from a miss) until
``cooldown`` seconds have passed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PublishAttemptLimits", "PublishAttempts", "peer_host"]


def peer_host(peer: str) -> str:
    """The host of a ``host:port`` or ``[v6]:port`` peer: one address, whatever its port."""
    host, sep, _ = peer.rpartition(":")
    return host.strip("[]") if sep else peer


@dataclass(frozen=True, slots=True)
class PublishAttemptLimits:
    limit: int = 10  # failures within ``window`` that start a cool-down (0: no limit)
    window: float = 60.0
    cooldown: float = 60.0


class PublishAttempts:
    """Failed publishes per address. Memory is bounded by ``max_addresses``: when full, the
    address least recently seen is forgotten first."""

    def __init__(
        self,
        limits: PublishAttemptLimits,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def retry_after(self, address: str) -> float:
        """Seconds this address must still wait before it may publish (0: it may now)."""
        until = self._blocked_until.get(address)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._blocked_until[address]
            return 0.0
        return left

    def failed(self, address: str) -> bool:
        """Count a failure; True when it starts this address's cool-down."""
        limits = self.limits
        if limits.limit <= 0:
            return False
        now = self._clock()
        failures = self._failures.pop(address, None) or deque()
        while failures and failures[0] <= now - limits.window:
            failures.popleft()
        failures.append(now)
        if len(failures) >= limits.limit:
            # The cool-down starts afresh: its failures are not held against the next window.
            self._blocked_until[address] = now + limits.cooldown
            while len(self._blocked_until) > self.max_addresses:
                self._blocked_until.pop(next(iter(self._blocked_until)))
            return True
        while len(self._failures) >= self.max_addresses:
            self._failures.pop(next(iter(self._failures)))
        self._failures[address] = failures  # re-inserted: dict order is recency order
        return False

    def __len__(self) -> int:
        return len(self._failures) + len(self._blocked_until)
