"""One publisher connection feeding a StreamHub: timestamp rebasing and keyframe checks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from golive.live.bitrate_cap import BitrateCap
from golive.live.hub import StreamHub
from golive.media.frame import Frame, Track, TrackKind

log = logging.getLogger("golive.live")

# A forward jump larger than this, or any step backwards larger than the second, is an
# encoder restart or a broken clock, not a late frame: it starts a new timeline.
_JUMP_FORWARD = 5.0
_JUMP_BACKWARD = 1.0
# Gap left between the old timeline's end and the new one's start.
_TIMELINE_GAP = 0.1


class PublisherSession:
    """Sink for one ingest connection (structurally an ingest StreamSink).

    Rebases every publisher's timestamps onto the hub's timeline so that consumers see one
    monotonic timeline per stream, and starts a new timeline (a discontinuity) when the
    publisher reconnects or its clock jumps. A publisher that sends video but no keyframe for
    ``keyframe_timeout`` seconds is disconnected with a message saying why, and so is one
    that stays above its ``bitrate_cap``.
    """

    def __init__(
        self,
        hub: StreamHub,
        *,
        disconnect: Callable[[str], None],
        on_close: Callable[[PublisherSession, str], None],
        keyframe_timeout: float,
        resumed: bool,
        bitrate_cap: BitrateCap | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self._disconnect = disconnect
        self._on_close = on_close
        self._keyframe_timeout = keyframe_timeout
        self._clock = clock
        self._closed = False
        self._offset_seconds: float | None = None
        self._offsets: dict[int, int] = {}
        self._last_dts: dict[int, int] = {}
        self._needs_discontinuity = resumed
        self._video_id: int | None = None
        self._have_keyframe = False
        self._waiting_since: float | None = None
        self._bitrate_cap = bitrate_cap
        self._over_cap = False  # disconnected for its bitrate; the transport is closing
        self.metadata: Mapping[str, object] = {}

    # -- StreamSink ---------------------------------------------------------------------------

    def on_track(self, track: Track) -> None:
        if self._closed:
            return
        if track.kind is TrackKind.VIDEO:
            self._video_id = track.id
        self._offsets.pop(track.id, None)
        self.hub.set_track(track)

    def on_metadata(self, metadata: Mapping[str, object]) -> None:
        self.metadata = dict(metadata)

    def on_frame(self, frame: Frame) -> None:
        if self._closed or self._over_cap:
            return
        cap = self._bitrate_cap
        if cap is not None and (rate := cap.add(len(frame.data))) is not None:
            self._over_bitrate_cap(cap, rate)
            return
        tid = frame.track_id
        if tid == self._video_id and not self._have_keyframe:
            if not frame.keyframe:
                self._wait_for_keyframe()
                return
            self._have_keyframe = True
        offset = self._offsets.get(tid)
        if offset is None:
            offset = self._offset_for(frame)
        dts = frame.dts + offset
        last = self._last_dts.get(tid)
        if last is not None:
            track = self.hub.tracks[tid]
            step = (dts - last) / track.timescale
            if step > _JUMP_FORWARD or step < -_JUMP_BACKWARD:
                log.warning(
                    "timestamps jumped by %.3f s on track %d: starting a new timeline",
                    step,
                    tid,
                    extra=self.hub.log_extra,
                )
                self._offset_seconds = None
                self._offsets.clear()
                self._last_dts.clear()
                self._needs_discontinuity = True
                offset = self._offset_for(frame)
                dts = frame.dts + offset
        if self._needs_discontinuity:
            self._needs_discontinuity = False
            self.hub.discontinuity()
        self._last_dts[tid] = dts
        frame.pts += offset
        frame.dts = dts
        self.hub.push(frame)

    def on_close(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self, reason)

    @property
    def log_extra(self) -> dict[str, object]:
        """The stream's log context, for the ingest connection's own log lines."""
        return self.hub.log_extra

    # -- internals ------------------------------------------------------------------------------

    def disconnect(self, reason: str) -> None:
        """Kick the publisher (the live layer's decision, e.g. no keyframe)."""
        if not self._closed:
            self._disconnect(reason)

    def _offset_for(self, frame: Frame) -> int:
        track = self.hub.tracks[frame.track_id]
        if self._offset_seconds is None:
            # One offset in seconds for every track keeps audio and video in sync.
            start = self.hub.timeline_end + (_TIMELINE_GAP if self.hub.timeline_end else 0.0)
            self._offset_seconds = start - frame.dts / track.timescale
        offset = round(self._offset_seconds * track.timescale)
        self._offsets[frame.track_id] = offset
        return offset

    def _wait_for_keyframe(self) -> None:
        now = self._clock()
        if self._waiting_since is None:
            self._waiting_since = now
        elif now - self._waiting_since > self._keyframe_timeout:
            reason = (
                f"no keyframe in {self._keyframe_timeout:g} s of video: set a keyframe interval "
                "(OBS: Keyframe Interval 1-2 s; ffmpeg: -g)"
            )
            log.warning("disconnecting publisher: %s", reason, extra=self.hub.log_extra)
            self.disconnect(reason)

    def _over_bitrate_cap(self, cap: BitrateCap, rate: float) -> None:
        reason = (
            f"publishing at {rate / 1e6:.2f} Mb/s for {cap.window:g} s, above this channel's "
            f"cap of {cap.limit_bps / 1e6:.2f} Mb/s: lower the video bitrate"
        )
        log.warning("disconnecting publisher: %s", reason, extra=self.hub.log_extra)
        # Frames still arriving until the transport closes are not forwarded.
        self._over_cap = True
        self.disconnect(reason)
