"""Disconnects a publisher whose stream key has stopped working (rotated, or its channel
deleted), whoever changed it: the API and the dashboard kick the publisher at once, but
`golive channel rotate-key` runs in another process and only changes the database, so the
server compares the keys its publishers used with the stored ones every ``interval``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

__all__ = ["StreamKeyWatch"]

log = logging.getLogger("golive.live")

# The stored key hashes of these channels (one query for all); a channel that is gone is
# missing from the answer.
KeyLookup = Callable[[Collection[str]], Awaitable[dict[str, str]]]
# Disconnect the publisher of a channel, with a reason for the log and the publisher.
Disconnect = Callable[[str, str], object]

REASON = "stream key rotated"


class StreamKeyWatch:
    def __init__(self, lookup: KeyLookup, disconnect: Disconnect, *, interval: float) -> None:
        self._lookup = lookup
        self._disconnect = disconnect
        self.interval = interval
        self._published: dict[str, str] = {}  # channel -> hash of the key its publisher used

    def published(self, channel: str, key_hash: str) -> None:
        """A publisher is on ``channel`` with the key of this hash."""
        self._published[channel] = key_hash

    def forget(self, channel: str) -> None:
        """The channel's stream ended: nothing to watch."""
        self._published.pop(channel, None)

    async def check(self) -> list[str]:
        """Disconnect every publisher whose key no longer matches; return their channels."""
        revoked: list[str] = []
        watched = dict(self._published)
        if not watched:
            return revoked
        stored = await self._lookup(list(watched))
        for channel, used in watched.items():
            current = stored.get(channel)
            if current == used or self._published.get(channel) != used:
                continue  # unchanged, or a new publisher came on while we looked
            del self._published[channel]
            log.warning(
                "channel %s: %s, disconnecting its publisher",
                channel,
                REASON if current is not None else "channel deleted",
                extra={"channel": channel},
            )
            self._disconnect(channel, REASON if current is not None else "channel deleted")
            revoked.append(channel)
        return revoked

    async def run(self) -> None:
        """Check every ``interval`` seconds until cancelled; a failed check is logged only."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception as exc:
                log.error("stream key check failed: %s", exc)
