"""Puts the source's audio into an encoded video rendition, in media-time order.

Every HLS variant carries its audio muxed with its video (one playlist per variant): hls.js
then needs one blocking playlist request per part instead of two, which is what holds
about one second of latency (a separate audio playlist added multi-second stalls when one
of the two requests came back late). The audio is the publisher's AAC, never re-encoded,
so every variant carries the same bytes.

The encoded video comes back from the transcoder a few hundred milliseconds after the source
audio of the same media time. Audio frames wait here until the rendition's video has reached
their time, so each part holds the audio of its own time span, as in the source rendition.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from golive.live.consumer import StreamConsumer
from golive.media.frame import Frame, Track, TrackKind

__all__ = ["AudioInterleaver"]

# Audio never waits longer than this for video (a stalled or shed encoder): older frames go.
_MAX_WAIT_SECONDS = 10.0


class AudioInterleaver:
    """A StreamConsumer for an encoded rendition's video that mixes in the source audio.

    The transcoder calls the StreamConsumer methods with video; the packager calls
    :meth:`audio_tracks` and :meth:`audio_frame` with the source's audio.
    """

    def __init__(self, rendition: StreamConsumer) -> None:
        self.rendition = rendition
        self._video: Track | None = None
        self._audio: Track | None = None
        self._queue: deque[Frame] = deque()
        self._declared: list[Track] | None = None

    # -- the source's audio (from the packager) -----------------------------------------------

    def audio_tracks(self, audio: Track | None) -> None:
        if audio != self._audio:
            self._audio = audio
            self._queue.clear()
            self._declare()

    def audio_frame(self, frame: Frame) -> None:
        audio = self._audio
        if audio is None or frame.track_id != audio.id:
            return
        queue = self._queue
        queue.append(frame)
        oldest = frame.dts - round(_MAX_WAIT_SECONDS * audio.timescale)
        while queue[0].dts < oldest:
            queue.popleft()

    # -- the encoded video (StreamConsumer, from the transcoder) --------------------------------

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self._video = next((t for t in tracks if t.kind is TrackKind.VIDEO), None)
        self._declare()

    def on_frame(self, frame: Frame) -> None:
        video, audio = self._video, self._audio
        if video is not None and audio is not None and frame.track_id == video.id:
            self._release(frame.dts / video.timescale, audio)
        self.rendition.on_frame(frame)

    def on_discontinuity(self) -> None:
        # The encoder restarts on a later keyframe: audio from before the break would land
        # in the old timeline's last part, so it goes.
        self._queue.clear()
        self.rendition.on_discontinuity()

    def on_end(self) -> None:
        self._queue.clear()
        self.rendition.on_end()

    def _release(self, video_seconds: float, audio: Track) -> None:
        queue = self._queue
        limit = round(video_seconds * audio.timescale)
        rendition = self.rendition
        while queue and queue[0].dts <= limit:
            rendition.on_frame(queue.popleft())

    def _declare(self) -> None:
        if self._video is None:
            return
        tracks = [self._video] if self._audio is None else [self._video, self._audio]
        if tracks != self._declared:
            self._declared = tracks
            self.rendition.on_tracks(tracks)
