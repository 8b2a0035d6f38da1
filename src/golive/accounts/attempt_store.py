"""Where attempts are counted: the interface every rate limit goes through, and its
in-process implementation.

A limit (sign-in failures, sign-ups, clips, failed publishes) asks its store for a named
*counter*: at most ``limit`` attempts per key in any ``window`` seconds. One process counts in
memory (`LocalAttemptStore`, today's `AttemptWindow`); a cluster counts in Redis
(`cluster/redis_attempt_window.py`), so every node spends from the same budget. The methods
are async because the shared store needs a round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from golive.accounts.attempt_window import AttemptWindow

__all__ = ["AttemptCounter", "AttemptStore", "LocalAttemptCounter", "LocalAttemptStore"]


class AttemptCounter(Protocol):
    """At most ``limit`` attempts per key in any ``window`` seconds."""

    @property
    def limit(self) -> int: ...

    @property
    def window(self) -> float: ...

    async def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        ...

    async def take(self, key: str) -> float:
        """Count an attempt unless ``key`` is at its limit: 0 when counted, else the seconds
        to wait (nothing is counted then). Check and count are one atomic step wherever the
        counts live, so concurrent attempts never all pass the check."""
        ...

    async def give_back(self, key: str) -> None:
        """Undo the latest attempt of ``key`` (it turned out not to count)."""
        ...

    async def clear(self, key: str) -> None:
        """Forget every attempt of ``key``."""
        ...


class AttemptStore(Protocol):
    def counter(self, name: str, *, limit: int, window: float) -> AttemptCounter:
        """The counter called ``name``. Asking again for a name gives the same counts (with
        the limit and window asked last)."""
        ...


class LocalAttemptCounter:
    """An `AttemptCounter` in this process's memory: an `AttemptWindow` behind the async
    interface. No method awaits anything, so a ``take`` runs to its end uninterrupted."""

    def __init__(self, window: AttemptWindow) -> None:
        self.attempts = window

    @property
    def limit(self) -> int:
        return self.attempts.limit

    @property
    def window(self) -> float:
        return self.attempts.window

    async def retry_after(self, key: str) -> float:
        return self.attempts.retry_after(key)

    async def take(self, key: str) -> float:
        return self.attempts.take(key)

    async def give_back(self, key: str) -> None:
        self.attempts.give_back(key)

    async def clear(self, key: str) -> None:
        self.attempts.clear(key)


class LocalAttemptStore:
    """Counters in this process's memory, each bounded to ``max_keys`` keys."""

    def __init__(
        self, *, max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_keys = max_keys
        self._clock = clock
        self._counters: dict[str, LocalAttemptCounter] = {}

    def counter(self, name: str, *, limit: int, window: float) -> LocalAttemptCounter:
        counter = self._counters.get(name)
        if counter is None:
            counter = LocalAttemptCounter(
                AttemptWindow(limit, window, max_keys=self.max_keys, clock=self._clock)
            )
            self._counters[name] = counter
        else:
            # New settings keep the counts, as the same name in Redis does.
            counter.attempts.reconfigure(limit, window)
        return counter
