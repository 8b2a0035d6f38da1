"""This node's claims on the channels it ingests: one publisher per channel, cluster-wide.

Before a publisher is let in, the node takes the channel's publish lease (live/publish_lease.py)
unless it already holds it (the channel is live here, or in its reconnect grace here); it
keeps it, through the keeper's renewals, as long as the stream lasts on this node, and gives
it up when the stream ends. With the in-process lease store (one process) this is the same
rule the registry already keeps; with the Redis store it holds across every node.

Why a publish may be refused here, each with its own answer to the publisher:
- another node holds the channel (``ChannelBusy``): it is live there;
- the lease store cannot be reached (``ClaimsUnavailable``): nobody can tell whether the
  channel is live elsewhere, so the safe answer is "try again", never "go ahead".
"""

from __future__ import annotations

import asyncio
import logging

from golive.live.lease_keeper import LeaseKeeper
from golive.live.publish_lease import Lease, LeaseUnavailable, PublishLeases

__all__ = ["ChannelBusy", "ChannelClaims", "ClaimsUnavailable"]

log = logging.getLogger("golive.live")


class ChannelBusy(Exception):
    """Another node (or a publish racing this one on this node) has the channel."""

    def __init__(self, channel: str, holder: str | None) -> None:
        super().__init__(f"channel {channel} is live on {holder or 'another publisher'}")
        self.holder = holder


class ClaimsUnavailable(Exception):
    """The lease store does not answer: no publish can be let in safely."""


class ChannelClaims:
    """Takes, keeps and gives up this node's publish leases."""

    def __init__(self, leases: PublishLeases, keeper: LeaseKeeper) -> None:
        self._leases = leases
        self._keeper = keeper
        self._claiming: set[str] = set()
        self._releases: set[asyncio.Task[None]] = set()

    @property
    def node(self) -> str:
        return self._keeper.node

    def held(self, channel: str) -> Lease | None:
        """The lease this node holds on ``channel`` (its token stamps fenced writes)."""
        return self._keeper.lease(channel)

    async def claim(self, channel: str) -> bool:
        """Make sure this node holds ``channel``; True when it took the lease just now.

        Raises ChannelBusy or ClaimsUnavailable. A caller that took the lease and then does
        not let the publisher in after all must call ``abandon``.
        """
        if self._keeper.lease(channel) is not None:
            return False
        if channel in self._claiming:
            # Two publishes on this node at once: the first one's lease would be replaced
            # (the same holder acquiring again gets a new token) and then released.
            raise ChannelBusy(channel, None)
        self._claiming.add(channel)
        try:
            try:
                lease = await self._keeper.acquire(channel)
            except LeaseUnavailable as exc:
                raise ClaimsUnavailable(str(exc)) from exc
            if lease is None:
                raise ChannelBusy(channel, await self._holder_name(channel))
            log.info("took the publish lease of %s (token %d)", channel, lease.token)
            return True
        finally:
            self._claiming.discard(channel)

    def abandon(self, channel: str) -> None:
        """Give up a lease taken by ``claim`` for a publish that did not go ahead."""
        self.release(channel)

    def release(self, channel: str) -> None:
        """The channel's stream ended on this node: give its lease up, in the background."""
        if self._keeper.lease(channel) is None:
            return
        task = asyncio.get_running_loop().create_task(self._keeper.release(channel))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def close(self) -> None:
        """Give up every lease (shutdown): a publisher that reconnects elsewhere goes on there."""
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        await self._keeper.close()

    async def _holder_name(self, channel: str) -> str | None:
        try:
            holder = await self._leases.holder(channel)
        except LeaseUnavailable:
            return None
        return holder.holder if holder is not None else None
