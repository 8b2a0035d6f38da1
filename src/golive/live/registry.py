"""StreamRegistry: which channel is live, and the idle -> live -> ended lifecycle."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence

from golive.live.consumer import StreamConsumer
from golive.live.hub import StreamHub, StreamState
from golive.live.publisher import PublisherSession

log = logging.getLogger("golive.live")

ConsumerFactory = Callable[[StreamHub], Sequence[StreamConsumer]]


class AlreadyPublishing(Exception):
    """A second publisher tried to go live on a channel that has one."""


class StreamRegistry:
    """Live streams by channel name.

    A publisher that drops leaves its stream in RECONNECTING for ``reconnect_grace`` seconds:
    if it comes back the same stream goes on (consumers see a discontinuity); otherwise the
    stream ends and consumers close their playlists.
    """

    def __init__(
        self,
        *,
        consumer_factory: ConsumerFactory,
        reconnect_grace: float = 10.0,
        keyframe_timeout: float = 10.0,
    ) -> None:
        self._consumer_factory = consumer_factory
        self._grace = reconnect_grace
        self._keyframe_timeout = keyframe_timeout
        self._hubs: dict[str, StreamHub] = {}
        self._publishers: dict[str, PublisherSession] = {}
        self._grace_timers: dict[str, asyncio.TimerHandle] = {}

    def hub(self, channel: str) -> StreamHub | None:
        return self._hubs.get(channel)

    def live(self) -> list[StreamHub]:
        return list(self._hubs.values())

    def open_publisher(
        self, channel: str, *, disconnect: Callable[[str], None]
    ) -> PublisherSession:
        """Attach a new publisher to ``channel``; raises AlreadyPublishing if one is on."""
        if channel in self._publishers:
            raise AlreadyPublishing(channel)
        hub = self._hubs.get(channel)
        resumed = hub is not None and hub.state is StreamState.RECONNECTING
        if hub is not None and resumed:
            self._grace_timers.pop(channel).cancel()
            hub.state = StreamState.LIVE
            log.info("publisher is back within the grace period", extra=hub.log_extra)
        else:
            hub = StreamHub(channel, secrets.token_hex(4), time.time())
            for consumer in self._consumer_factory(hub):
                hub.add_consumer(consumer)
            self._hubs[channel] = hub
            log.info("stream started", extra=hub.log_extra)
        hub.publishes += 1
        publisher = PublisherSession(
            hub,
            disconnect=disconnect,
            on_close=self._publisher_closed,
            keyframe_timeout=self._keyframe_timeout,
            resumed=resumed,
        )
        self._publishers[channel] = publisher
        return publisher

    def publisher(self, channel: str) -> PublisherSession | None:
        return self._publishers.get(channel)

    def _publisher_closed(self, publisher: PublisherSession, reason: str) -> None:
        hub = publisher.hub
        if self._publishers.get(hub.channel) is not publisher:
            return
        del self._publishers[hub.channel]
        hub.state = StreamState.RECONNECTING
        # Flush what the publisher sent so far, so viewers get every last frame now.
        hub.discontinuity()
        log.info(
            "publisher gone (%s); waiting %.0f s for it to come back",
            reason,
            self._grace,
            extra=hub.log_extra,
        )
        loop = asyncio.get_running_loop()
        self._grace_timers[hub.channel] = loop.call_later(self._grace, self._end, hub)

    def _end(self, hub: StreamHub) -> None:
        self._grace_timers.pop(hub.channel, None)
        if self._hubs.get(hub.channel) is hub:
            del self._hubs[hub.channel]
        hub.end()
        log.info("stream ended", extra=hub.log_extra)

    def close(self) -> None:
        """End every stream now (server shutdown)."""
        for timer in self._grace_timers.values():
            timer.cancel()
        self._grace_timers.clear()
        for channel, publisher in list(self._publishers.items()):
            publisher.disconnect("server is shutting down")
            self._publishers.pop(channel, None)
        for hub in list(self._hubs.values()):
            self._end(hub)
