"""BitrateCap: when a publisher has sent more than its channel's bitrate cap for long enough."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# Samples per window: the measured span is between one and 1 + 1/_STEPS windows long.
_STEPS = 5


class BitrateCap:
    """Averages the media bytes a publisher sends over a sliding ``window`` of seconds.

    The cap trips only once a whole window has been measured and its average is above
    ``limit_bps``: a keyframe or a short burst after a network stall does not trip it, a
    publisher that keeps sending too much does, within about ``window`` seconds.
    """

    def __init__(
        self,
        limit_bps: float,
        *,
        window: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit_bps <= 0 or window <= 0:
            raise ValueError("a bitrate cap needs a positive limit and window")
        self.limit_bps = limit_bps
        self.window = window
        self._clock = clock
        self._step = window / _STEPS
        self._total = 0
        start = clock()
        # (time, bytes received before it); bounded: older samples are dropped as time passes.
        self._samples: deque[tuple[float, int]] = deque([(start, 0)])
        self._next_sample = start + self._step

    def add(self, nbytes: int) -> float | None:
        """Count ``nbytes`` just received; return the window's bitrate if it is over the cap."""
        self._total += nbytes
        now = self._clock()
        if now >= self._next_sample:
            self._samples.append((now, self._total))
            self._next_sample = now + self._step
        samples = self._samples
        # Keep the newest sample at or before the window's start, and nothing older.
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()
        since, before = samples[0]
        span = now - since
        if span < self.window:
            return None
        rate = (self._total - before) * 8 / span
        return rate if rate > self.limit_bps else None
