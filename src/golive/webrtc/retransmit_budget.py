"""How many packets one viewer may have retransmitted: a token bucket (clock injected).

A NACK names up to 17 packets per 4 bytes, so a viewer (or a hostile client) can ask for far
more than it lost. Each viewer gets ``rate`` retransmissions a second, ``burst`` at once
(a lost keyframe is tens of packets); what is asked for beyond that is not sent, and the
next keyframe repairs the picture as it would without NACK.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RetransmitBudget"]


class RetransmitBudget:
    def __init__(
        self,
        rate: float = 100.0,
        burst: float = 200.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()
        self.refused = 0

    def take(self) -> bool:
        """One retransmission, if the budget allows it now."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.refused += 1
        return False
