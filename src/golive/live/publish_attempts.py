"""Failed publish attempts per remote address, and the cool-down that follows too many.

Stream keys are secrets sent in the clear over RTMP's URL; guessing one by brute force is
hopeless for generated keys but not for short hand-set ones, and every attempt costs a
database lookup. An address that fails ``limit`` times within ``window`` seconds is refused
outright (even with a valid key, so a guesser cannot tell a hit from a miss) until
``cooldown`` seconds have passed.

One process counts in its own memory. A cluster passes ``shared``, attempt counters every
node spends from (Redis), so a guesser gains nothing by spreading attempts over nodes: the
failures are one counter (``limit`` per ``window``) and the cool-down another (one per
``cooldown``). Those are the accounts' `AttemptStore` counters, described here by the
little this needs of them, since `live/` imports nothing off the data path.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "AttemptCounter",
    "AttemptCounters",
    "PublishAttemptLimits",
    "PublishAttempts",
    "peer_host",
]


def peer_host(peer: str) -> str:
    """The host of a ``host:port`` or ``[v6]:port`` peer: one address, whatever its port."""
    host, sep, _ = peer.rpartition(":")
    return host.strip("[]") if sep else peer


@dataclass(frozen=True, slots=True)
class PublishAttemptLimits:
    limit: int = 10  # failures within ``window`` that start a cool-down (0: no limit)
    window: float = 60.0
    cooldown: float = 60.0


class AttemptCounter(Protocol):
    """At most ``limit`` attempts per key in any ``window`` seconds (accounts' counter)."""

    async def retry_after(self, key: str) -> float: ...

    async def take(self, key: str) -> float: ...

    async def clear(self, key: str) -> None: ...


class AttemptCounters(Protocol):
    def counter(self, name: str, *, limit: int, window: float) -> AttemptCounter: ...


class PublishAttempts:
    """Failed publishes per address. In memory, bounded by ``max_addresses``: when full, the
    address least recently seen is forgotten first."""

    def __init__(
        self,
        limits: PublishAttemptLimits,
        *,
        shared: AttemptCounters | None = None,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._counters: tuple[AttemptCounter, AttemptCounter] | None = None
        self.limits = limits
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    @property
    def limits(self) -> PublishAttemptLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: PublishAttemptLimits) -> None:
        # (Settings reload.) The shared counters keep their counts under the new limits.
        self._limits = limits
        if self._shared is not None and limits.limit > 0:
            self._counters = (
                self._shared.counter("publish-failure", limit=limits.limit, window=limits.window),
                self._shared.counter("publish-cooldown", limit=1, window=limits.cooldown),
            )

    async def retry_after(self, address: str) -> float:
        """Seconds this address must still wait before it may publish (0: it may now)."""
        if self._shared is not None:
            return 0.0 if self._counters is None else await self._counters[1].retry_after(address)
        until = self._blocked_until.get(address)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._blocked_until[address]
            return 0.0
        return left

    async def failed(self, address: str) -> bool:
        """Count a failure; True when it starts this address's cool-down."""
        limits = self.limits
        if limits.limit <= 0:
            return False
        if self._counters is not None:
            return await self._shared_failure(self._counters, address)
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

    @staticmethod
    async def _shared_failure(
        counters: tuple[AttemptCounter, AttemptCounter], address: str
    ) -> bool:
        failures, cooldowns = counters
        await failures.take(address)
        if await failures.retry_after(address) == 0:
            return False  # still under the limit
        # The limit is reached: the cool-down starts and its failures are wiped, as above.
        # Two nodes reaching it at once both start it; the second take is a no-op.
        await cooldowns.take(address)
        await failures.clear(address)
        return True

    def __len__(self) -> int:
        return len(self._failures) + len(self._blocked_until)
