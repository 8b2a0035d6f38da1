"""Which node serves a channel: the holder of its publish lease, at the address it announced.

A node asked for the media of a channel it does not serve sends the request on to the node
that does (http/channel_forwarding.py), and asks this first. Finding out is two Redis round
trips (the lease's holder, then that node's address), and an edge in front sends a node a
few requests per part per channel, so the answer is remembered for ``ttl`` seconds (half a
second by default): a takeover is followed at most that much later, well inside the lease's
own 6 s; "not served anywhere" is remembered as long, so a flood of requests for a channel
that is not live costs Redis one lookup per ``ttl``. Memory is bounded: past ``max_entries``
channels the oldest answers are dropped first. Redis unreachable means "not known": the
request is answered here (404) rather than sent anywhere.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from golive.live.publish_lease import LeaseUnavailable, PublishLeases

__all__ = ["ChannelLocator"]


class ChannelLocator:
    def __init__(
        self,
        leases: PublishLeases,
        url_of: Callable[[str], Awaitable[str | None]],
        node_id: str,
        *,
        ttl: float = 0.5,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``url_of``: a node id's announced base URL (cluster/node_directory.py)."""
        self._leases = leases
        self._url_of = url_of
        self._node_id = node_id
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._known: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    async def __call__(self, channel: str) -> str | None:
        """The base URL of the node serving ``channel``; None when it is this node, none,
        or cannot be told."""
        now = self._clock()
        known = self._known.get(channel)
        if known is not None and known[0] > now:
            return known[1]
        try:
            holder = await self._leases.holder(channel)
        except LeaseUnavailable:
            return None  # not remembered: Redis may answer the next request
        url = None
        if holder is not None and holder.holder != self._node_id:
            url = await self._url_of(holder.holder)
        self._known[channel] = (now + self._ttl, url)
        self._known.move_to_end(channel)
        while len(self._known) > self._max:
            self._known.popitem(last=False)
        return url
