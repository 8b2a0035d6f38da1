"""One wake-up for every waiter, and no work at all when nobody waits.

The live window wakes its readers on every part of every rendition; most renditions have no
reader waiting at that moment. An asyncio.Event swapped per wake-up costs an allocation
each time; this costs a length check, and one future per waiting request.
"""

from __future__ import annotations

import asyncio

__all__ = ["Wakeup"]


class Wakeup:
    """Waiters park on :meth:`wait`; :meth:`fire` releases all of them at once."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def fire(self) -> None:
        waiters = self._waiters
        if not waiters:
            return
        self._waiters = []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait(self, timeout: float) -> bool:
        """Wait for the next :meth:`fire`; False after ``timeout`` seconds (or if <= 0)."""
        if timeout <= 0:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            return False
        finally:
            if not fut.done():
                fut.cancel()
            if self._waiters and fut in self._waiters:
                # Timed out or cancelled while still listed: drop it now, not at the next fire.
                self._waiters.remove(fut)
        return True
