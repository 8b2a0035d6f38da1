"""StreamRegistry: which channel is live, and the idle -> live -> ended lifecycle."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence

from golive.live.bitrate_cap import BitrateCap
from golive.live.consumer import StreamConsumer
from golive.live.hub import StreamHub, StreamState
from golive.live.publisher import PublisherSession

log = logging.getLogger("golive.live")

# The first consumer is the stream's essential one (its packager): if it fails, the stream ends.
ConsumerFactory = Callable[[StreamHub], Sequence[StreamConsumer]]
StreamListener = Callable[[StreamHub], None]
# A new publisher's bitrate cap on a channel, or None for no cap.
BitrateCapFactory = Callable[[str], BitrateCap | None]


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
        on_started: StreamListener | None = None,
        on_ended: StreamListener | None = None,
        bitrate_cap: BitrateCapFactory | None = None,
    ) -> None:
        self._consumer_factory = consumer_factory
        self._bitrate_cap = bitrate_cap
        self._grace = reconnect_grace
        self._keyframe_timeout = keyframe_timeout
        # Told when a stream starts and ends (webhooks); they must not block.
        self._on_started = on_started
        self._on_ended = on_ended
        self._hubs: dict[str, StreamHub] = {}
        self._publishers: dict[str, PublisherSession] = {}
        self._grace_timers: dict[str, asyncio.TimerHandle] = {}

    def configure(self, *, reconnect_grace: float, keyframe_timeout: float) -> None:
        """New values for streams and publishers from now on (a settings reload)."""
        self._grace = reconnect_grace
        self._keyframe_timeout = keyframe_timeout

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
            self._watch(hub)
            self._hubs[channel] = hub
            log.info("stream started", extra=hub.log_extra)
            self._notify(self._on_started, hub)
        hub.publishes += 1
        publisher = PublisherSession(
            hub,
            disconnect=disconnect,
            on_close=self._publisher_closed,
            keyframe_timeout=self._keyframe_timeout,
            resumed=resumed,
            bitrate_cap=self._bitrate_cap(channel) if self._bitrate_cap is not None else None,
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

    def restore(self, hub: StreamHub, *, grace: float) -> None:
        """Take back a stream saved by a previous run, waiting ``grace`` s for its publisher.

        The hub arrives in RECONNECTING with its consumers attached: a publisher that comes
        back in time continues it after a discontinuity; otherwise it ends as usual.
        """
        if hub.channel in self._hubs:
            raise AlreadyPublishing(hub.channel)
        hub.state = StreamState.RECONNECTING
        self._hubs[hub.channel] = hub
        self._watch(hub)
        loop = asyncio.get_running_loop()
        self._grace_timers[hub.channel] = loop.call_later(max(0.0, grace), self._end, hub)
        log.info("stream restored; waiting %.1f s for its publisher", grace, extra=hub.log_extra)

    def stop(self, channel: str, reason: str, *, end: bool = False) -> bool:
        """Disconnect the channel's publisher; with ``end``, end the stream at once.

        Returns False when the channel has no stream (or, without ``end``, no publisher).
        """
        hub = self._hubs.get(channel)
        if hub is None:
            return False
        publisher = self._publishers.get(channel)
        if publisher is not None:
            publisher.disconnect(reason)
            # The transport closes asynchronously; detach now so the stream state is right
            # immediately and a reconnect is not refused as a second publisher.
            publisher.on_close(reason)
        elif not end:
            return False
        if end:
            timer = self._grace_timers.pop(channel, None)
            if timer is not None:
                timer.cancel()
            self._end(hub)
        return True

    def suspend(self) -> list[StreamHub]:
        """Server shutdown with resume: detach publishers, keep streams unended; return them.

        Every open segment has been flushed (the publisher-closed discontinuity); the
        caller saves the streams so that the next run can ``restore`` them.
        """
        for channel, publisher in list(self._publishers.items()):
            publisher.disconnect("server is restarting: reconnect")
            publisher.on_close("server is restarting")
            self._publishers.pop(channel, None)
        for timer in self._grace_timers.values():
            timer.cancel()
        self._grace_timers.clear()
        hubs = list(self._hubs.values())
        self._hubs.clear()
        return hubs

    def _watch(self, hub: StreamHub) -> None:
        if hub.essential is None and hub.consumers:
            hub.essential = hub.consumers[0]
        hub.on_essential_failed = self._essential_failed

    def _essential_failed(self, hub: StreamHub) -> None:
        """The packager failed: end the stream (no ghost listed as live with no playlist)."""
        if self._hubs.get(hub.channel) is not hub:
            return
        log.error("the stream's packager failed: ending the stream", extra=hub.log_extra)
        self.stop(hub.channel, "internal server error: the stream cannot be packaged", end=True)

    def _end(self, hub: StreamHub) -> None:
        self._grace_timers.pop(hub.channel, None)
        if self._hubs.get(hub.channel) is hub:
            del self._hubs[hub.channel]
        if hub.state is StreamState.ENDED:
            return
        hub.end()
        log.info("stream ended", extra=hub.log_extra)
        self._notify(self._on_ended, hub)

    def _notify(self, listener: StreamListener | None, hub: StreamHub) -> None:
        if listener is None:
            return
        try:
            listener(hub)
        except Exception:
            log.exception("stream listener %r failed", listener, extra=hub.log_extra)

    def close(self) -> list[StreamHub]:
        """End every stream now (server shutdown); return the streams ended."""
        for timer in self._grace_timers.values():
            timer.cancel()
        self._grace_timers.clear()
        for channel, publisher in list(self._publishers.items()):
            publisher.disconnect("server is shutting down")
            self._publishers.pop(channel, None)
        hubs = list(self._hubs.values())
        for hub in hubs:
            self._end(hub)
        return hubs
