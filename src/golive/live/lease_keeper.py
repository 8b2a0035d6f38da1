"""LeaseKeeper: renews this node's publish leases, and says at once when one is lost."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from golive.live.publish_lease import Lease, LeaseUnavailable, PublishLeases

log = logging.getLogger("golive.live")

# Told the lost lease and why; it must stop the channel's ingest now, and must not block.
LeaseLost = Callable[[Lease, str], None]

REASON_TAKEN = "the publish lease expired or another node took the channel"
REASON_NOT_RENEWED = (
    "no renewal succeeded in time (lease store unreachable, or this node stalled): "
    "stopping before another node can take the channel"
)

DEFAULT_SAFETY_MARGIN = 1.0


class LeaseKeeper:
    """One renewal task per held lease, renewing every ttl/3.

    When the store cannot be reached, what happens depends on ``fence_on_outage``:

    - False (the default, what golive runs): the stream goes on. A store outage is seen by
      every node alike, and while it lasts no node can take a channel either, so running
      streams keep playing (new publishes are refused: acquiring raises). When the store
      answers again, a lease it still has is renewed; one it lost (a restart without
      persistence, or it expired meanwhile) is taken again with a new, larger token if the
      channel is free, and reported lost only if another node holds it now. Writes that
      must not come from two nodes carry the token (``lease(channel)``), so a node that
      was cut off alone is refused by them once the store answers.
    - True: a node that cannot renew stops on its own: once no renewal has succeeded for
      ``ttl - safety_margin`` seconds (counted from when the last good renewal was sent,
      which the store saw no earlier), ``on_lost`` is called, before the store can expire
      the lease and hand the channel to another node. The margin covers the time to stop
      ingesting and the drift between this clock and the store's. The price: every stream
      on every node stops when the store is down for longer than that.
    """

    def __init__(
        self,
        leases: PublishLeases,
        node: str,
        *,
        on_lost: LeaseLost,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
        fence_on_outage: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # Two renewal attempts before the local deadline, so one lost renewal is no outage.
        if not 0 < safety_margin < leases.ttl / 3:
            raise ValueError("the safety margin must be positive and under a third of the ttl")
        self._leases = leases
        self.node = node
        self._on_lost = on_lost
        self._margin = safety_margin
        self._fence_on_outage = fence_on_outage
        self._clock = clock
        self._sleep = sleep
        self._kept: dict[str, tuple[Lease, asyncio.Task[None]]] = {}

    def lease(self, channel: str) -> Lease | None:
        kept = self._kept.get(channel)
        return kept[0] if kept is not None else None

    async def acquire(self, channel: str) -> Lease | None:
        """Take the channel for this node and keep renewing it.

        None when another node holds it; raises LeaseUnavailable when the store cannot be
        reached (the caller refuses the publish: it cannot know who else is live).
        """
        sent = self._clock()
        lease = await self._leases.acquire(channel, self.node)
        if lease is None:
            return None
        self._forget(channel)  # a lease of ours from before is dead: it has the old token
        task = asyncio.create_task(self._keep(lease, sent), name=f"lease keeper {channel}")
        self._kept[channel] = (lease, task)
        return lease

    async def release(self, channel: str) -> None:
        """Stop renewing the channel's lease and give it up (it expires anyway if unreachable)."""
        kept = self._kept.get(channel)
        if kept is None:
            return
        lease, _ = kept
        self._forget(channel)
        try:
            await self._leases.release(lease)
        except LeaseUnavailable:
            log.warning(
                "could not release the publish lease of %s: it expires within %.0f s",
                channel,
                lease.ttl,
            )

    async def close(self) -> None:
        """Release every lease (node shutdown)."""
        for channel in list(self._kept):
            await self.release(channel)

    def _forget(self, channel: str) -> None:
        kept = self._kept.pop(channel, None)
        if kept is not None:
            kept[1].cancel()

    async def _keep(self, lease: Lease, sent: float) -> None:
        interval = lease.ttl / 3
        # Without self-fencing there is no deadline: renewals go on until an answer.
        deadline = sent + lease.ttl - self._margin if self._fence_on_outage else math.inf
        attempt = sent + interval
        unverified = False
        while True:
            await self._sleep_until(min(attempt, deadline))
            if not self._keeping(lease.channel):
                # Released or replaced: redis-py may let a cancelled call finish normally,
                # so the cancellation alone does not end this loop.
                return
            started = self._clock()
            if started >= deadline:
                self._lost(lease, REASON_NOT_RENEWED)
                return
            renewed = await self._renew_before(lease, min(started + interval, deadline))
            if renewed is False and not self._fence_on_outage:
                # The store lost our lease (a restart, or it expired while this node or the
                # store was stalled): take the channel again unless another node has it.
                retaken = await self._retake(lease)
                if retaken is not None:
                    lease, renewed = retaken, True
            if renewed is False:
                self._lost(lease, REASON_TAKEN)
                return
            if renewed:
                if unverified:
                    log.info(
                        "publish lease of %s confirmed again (token %d)", lease.channel, lease.token
                    )
                unverified = False
                if self._fence_on_outage:
                    deadline = started + lease.ttl - self._margin
            elif not unverified:
                unverified = True
                log.warning(
                    "publish lease of %s unverified: the lease store does not answer; the "
                    "stream goes on and new publishes are refused until it does",
                    lease.channel,
                )
            attempt = started + interval

    async def _retake(self, lease: Lease) -> Lease | None:
        """A new lease for ``lease``'s channel after an outage, if no other node holds it."""
        try:
            fresh = await self._leases.acquire(lease.channel, self.node)
        except LeaseUnavailable:
            return None
        if fresh is None:
            return None
        kept = self._kept.get(lease.channel)
        if kept is not None and kept[0] == lease:
            self._kept[lease.channel] = (fresh, kept[1])
        log.warning(
            "publish lease of %s was gone from the store after an outage: taken again "
            "(token %d -> %d)",
            lease.channel,
            lease.token,
            fresh.token,
        )
        return fresh

    async def _renew_before(self, lease: Lease, limit: float) -> bool | None:
        """The store's answer, or None when it gave none by ``limit`` (or was unreachable)."""
        renewal = asyncio.ensure_future(self._leases.renew(lease))
        timer = asyncio.ensure_future(self._sleep_until(limit))
        try:
            await asyncio.wait({renewal, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not renewal.done():
                # Not awaited: a call that ignores its cancellation must not delay the fence.
                renewal.cancel()
                renewal.add_done_callback(_discard_outcome)
        if not renewal.done():
            return None
        error = renewal.exception()
        if isinstance(error, LeaseUnavailable):
            log.warning("could not renew the publish lease of %s: %s", lease.channel, error)
            return None
        if error is not None:
            # Not an answer either way: retry, and self-fence at the deadline as when unreachable.
            log.error("renewing the publish lease of %s failed", lease.channel, exc_info=error)
            return None
        return renewal.result()

    async def _sleep_until(self, moment: float) -> None:
        await self._sleep(max(0.0, moment - self._clock()))

    def _keeping(self, channel: str) -> bool:
        """Whether the running task is still the one keeping ``channel``'s lease."""
        kept = self._kept.get(channel)
        return kept is not None and kept[1] is asyncio.current_task()

    def _lost(self, lease: Lease, reason: str) -> None:
        if not self._keeping(lease.channel):
            return  # released or replaced meanwhile: nothing of ours was lost
        del self._kept[lease.channel]
        log.error("lost the publish lease of %s: %s", lease.channel, reason)
        try:
            self._on_lost(lease, reason)
        except Exception:
            log.exception("the lease-lost listener failed for %s", lease.channel)


def _discard_outcome(renewal: asyncio.Future[bool]) -> None:
    """Retrieve an abandoned renewal's outcome, so asyncio does not report it as lost."""
    if not renewal.cancelled():
        renewal.exception()
