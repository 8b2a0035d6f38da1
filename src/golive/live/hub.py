"""StreamHub: one per live stream; fans the stream's Tracks and Frames out to consumers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from enum import StrEnum

from golive.live.consumer import StreamConsumer
from golive.live.health import StreamHealth
from golive.media.frame import Frame, Track

log = logging.getLogger("golive.live")


class StreamState(StrEnum):
    LIVE = "live"
    RECONNECTING = "reconnecting"  # publisher gone, grace period running
    ENDED = "ended"


class StreamHub:
    """The live stream of one channel, across publisher reconnects within the grace period.

    A consumer that raises is logged and dropped, so one broken consumer cannot take the
    ingest or the other consumers down with it. The ``essential`` consumer (the packager) is
    the stream: when it fails, ``on_essential_failed`` is told, to end the stream rather
    than leave it listed as live with nothing to play.
    """

    def __init__(self, channel: str, stream_id: str, started_at: float) -> None:
        self.channel = channel
        self.stream_id = stream_id
        self.started_at = started_at  # wall clock
        self.state = StreamState.LIVE
        self.health = StreamHealth()
        self.tracks: dict[int, Track] = {}
        self.publishes = 0  # publisher connections so far (reconnects + 1)
        self.timeline_end = 0.0  # seconds: end of the last frame forwarded
        self._consumers: list[StreamConsumer] = []
        self.essential: StreamConsumer | None = None
        self.on_essential_failed: Callable[[StreamHub], None] | None = None
        self.log_extra: dict[str, object] = {"channel": channel, "stream_id": stream_id}

    # The consumer list is replaced, never changed in place: push() iterates it per frame
    # without copying, and a consumer may be removed while that loop runs.

    def add_consumer(self, consumer: StreamConsumer) -> None:
        self._consumers = [*self._consumers, consumer]
        if self.tracks:
            consumer.on_tracks(list(self.tracks.values()))

    def remove_consumer(self, consumer: StreamConsumer) -> None:
        self._consumers = [c for c in self._consumers if c is not consumer]

    @property
    def consumers(self) -> Sequence[StreamConsumer]:
        return tuple(self._consumers)

    def set_track(self, track: Track) -> None:
        if self.tracks.get(track.id) == track:
            return
        self.tracks[track.id] = track
        tracks = list(self.tracks.values())
        self.health.set_tracks(tracks)
        self._fan_out("on_tracks", tracks)

    def push(self, frame: Frame) -> None:
        self.health.observe(frame)
        track = self.tracks.get(frame.track_id)
        if track is not None:
            end = frame.dts / track.timescale
            if end > self.timeline_end:
                self.timeline_end = end
        for consumer in self._consumers:
            try:
                consumer.on_frame(frame)
            except Exception:
                log.exception("consumer %r failed; dropping it", consumer, extra=self.log_extra)
                self._drop(consumer)
                if self.state is StreamState.ENDED:
                    return

    def discontinuity(self) -> None:
        self.health.discontinuity()
        self._fan_out("on_discontinuity")

    def end(self) -> None:
        if self.state is StreamState.ENDED:
            return
        self.state = StreamState.ENDED
        self._fan_out("on_end")

    def _fan_out(self, method: str, *args: object) -> None:
        for consumer in self._consumers:
            try:
                getattr(consumer, method)(*args)
            except Exception:
                log.exception("consumer %r failed in %s", consumer, method, extra=self.log_extra)
                self._drop(consumer)
                if self.state is StreamState.ENDED and method != "on_end":
                    return

    def _drop(self, consumer: StreamConsumer) -> None:
        self.remove_consumer(consumer)
        if consumer is self.essential:
            self.essential = None
            if self.on_essential_failed is not None and self.state is not StreamState.ENDED:
                self.on_essential_failed(self)
