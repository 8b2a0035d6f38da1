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

    def begin(self, username: str, address: str) -> float:
        """Count a sign-in attempt before its password is checked: 0 when it may go ahead,
        else the seconds to wait (nothing is counted then). Counting up front, with no await
        between check and count, keeps concurrent attempts within the limit; an attempt that
        succeeds or is never checked is given back with :meth:`succeeded` / :meth:`cancelled`.
        """
        wait = self.retry_after(username, address)
        if wait == 0:
            self._pairs.record(_pair(username, address))
            self._addresses.record(address)
        return wait

    def failed(self, username: str, address: str) -> None:
        self._pairs.record(_pair(username, address))
        self._addresses.record(address)

    def cancelled(self, username: str, address: str) -> None:
        """The attempt begun was not checked after all (the server was busy)."""
        self._pairs.give_back(_pair(username, address))
        self._addresses.give_back(address)

    def succeeded(self, username: str, address: str) -> None:
        # The pair is forgiven; the address only loses this attempt: one good account must
        # not reset the count of an address spraying passwords over others.
        self._pairs.clear(_pair(username, address))
        self._addresses.give_back(address)


def _pair(username: str, address: str) -> str:
    return f"{username}\x00{address}"
