"""Failed sign-ins are limited per user name and client address, and per address alone.

The pair limit stops guessing one account's password; the address limit stops one client
spraying a common password over many accounts. There is deliberately no limit per user name
alone: anyone could then lock any user out by failing on purpose.

The counts live in an `AttemptStore`: this process's memory, or Redis in a cluster, where
every node spends from the same budget.
"""

from __future__ import annotations

from golive.accounts.attempt_store import AttemptStore, LocalAttemptStore

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
        attempt_store: AttemptStore | None = None,
    ) -> None:
        self.window = window
        store = LocalAttemptStore() if attempt_store is None else attempt_store
        self._pairs = store.counter("sign-in-pair", limit=attempts, window=window)
        self._addresses = store.counter("sign-in-address", limit=address_attempts, window=window)

    async def retry_after(self, username: str, address: str) -> float:
        """Seconds until ``username`` may try to sign in from ``address`` again (0: now)."""
        return max(
            await self._pairs.retry_after(_pair(username, address)),
            await self._addresses.retry_after(address),
        )

    async def begin(self, username: str, address: str) -> float:
        """Count a sign-in attempt before its password is checked: 0 when it may go ahead,
        else the seconds to wait (nothing is counted then). Each count is the store's atomic
        check-and-count, so concurrent attempts (on any node) stay within the limits; an
        attempt that succeeds or is never checked is given back with :meth:`succeeded` /
        :meth:`cancelled`.
        """
        pair = _pair(username, address)
        wait = await self._pairs.take(pair)
        if wait > 0:
            return wait
        wait = await self._addresses.take(address)
        if wait > 0:
            await self._pairs.give_back(pair)  # refused: the pair's count must not stand
        return wait

    async def failed(self, username: str, address: str) -> None:
        """Count a failure that was not begun (a limit already reached stays reached)."""
        await self._pairs.take(_pair(username, address))
        await self._addresses.take(address)

    async def cancelled(self, username: str, address: str) -> None:
        """The attempt begun was not checked after all (the server was busy)."""
        await self._pairs.give_back(_pair(username, address))
        await self._addresses.give_back(address)

    async def succeeded(self, username: str, address: str) -> None:
        # The pair is forgiven; the address only loses this attempt: one good account must
        # not reset the count of an address spraying passwords over others.
        await self._pairs.clear(_pair(username, address))
        await self._addresses.give_back(address)


def _pair(username: str, address: str) -> str:
    return f"{username}\x00{address}"
