"""Failed sign-ins are limited per user name and client address, and per address alone.

The pair limit stops guessing one account's password; the address limit stops one client
spraying a common password over many accounts. There is deliberately no limit per user name
alone: anyone could then lock any user out by failing on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from golive.accounts.attempt_window import AttemptWindow

__all__ = ["LoginRateLimit"]


class LoginRateLimit:
    """``attempts`` failures per (user name, address) and ``address_attempts`` per address,
    each in a sliding ``window`` of seconds, before sign-ins are refused."""

    def __init__(
        self,
        *,
        attempts: int = 5,
        address_attempts: int = 30,
        window: float = 300.0,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self._pairs = AttemptWindow(attempts, window, max_keys=max_keys, clock=clock)
        self._addresses = AttemptWindow(address_attempts, window, max_keys=max_keys, clock=clock)

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until ``username`` may try to sign in from ``address`` again (0: now)."""
        return max(
            self._pairs.retry_after(_pair(username, address)),
            self._addresses.retry_after(address),
        )

    def failed(self, username: str, address: str) -> None:
        self._pairs.record(_pair(username, address))
        self._addresses.record(address)

    def succeeded(self, username: str, address: str) -> None:
        # Only the pair is forgiven: one good account must not reset an address's count.
        self._pairs.clear(_pair(username, address))


def _pair(username: str, address: str) -> str:
    return f"{username}\x00{address}"
