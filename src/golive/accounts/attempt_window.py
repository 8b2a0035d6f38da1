"""Counting attempts per key over a sliding time window, in this process's memory (the
in-process `AttemptStore`'s counters: sign-in failures, sign-ups, clips)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["AttemptWindow"]


class AttemptWindow:
    """At most ``limit`` attempts per key in any ``window`` seconds.

    Memory is bounded: at most ``max_keys`` keys are tracked; when full, the key least
    recently recorded is forgotten first.
    """

    limit: int
    window: float

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reconfigure(limit, window)
        self.max_keys = max_keys
        self._clock = clock
        self._attempts: dict[str, deque[float]] = {}

    def reconfigure(self, limit: int, window: float) -> None:
        """New settings; the attempts recorded so far still count."""
        if limit < 1 or window <= 0:
            raise ValueError("an attempt window needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        now = self._clock()
        attempts = self._recent(key, now)
        if attempts is None or len(attempts) < self.limit:
            return 0.0
        return max(attempts[0] + self.window - now, 0.0)

    def record(self, key: str) -> None:
        now = self._clock()
        attempts = self._recent(key, now)
        if attempts is None:
            attempts = deque()
        else:
            del self._attempts[key]  # re-inserted below: dict order is recency order
        while len(self._attempts) >= self.max_keys:
            self._attempts.pop(next(iter(self._attempts)))
        self._attempts[key] = attempts
        attempts.append(now)
        while len(attempts) > self.limit:
            attempts.popleft()

    def take(self, key: str) -> float:
        """Record an attempt unless ``key`` is at its limit: 0 when recorded, else the seconds
        to wait. Checking and recording in one step, with no await between, is what stops
        concurrent requests from all passing the check before any of them is counted."""
        wait = self.retry_after(key)
        if wait == 0:
            self.record(key)
        return wait

    def give_back(self, key: str) -> None:
        """Undo the latest attempt of ``key`` (it turned out not to count)."""
        attempts = self._attempts.get(key)
        if attempts:
            attempts.pop()

    def clear(self, key: str) -> None:
        self._attempts.pop(key, None)

    def __len__(self) -> int:
        return len(self._attempts)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        attempts = self._attempts.get(key)
        if attempts is None:
            return None
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()
        return attempts
