"""One WHIP publisher's video and audio put on one timeline, in the order the packager needs.

Each RTP stream has its own clock with a random origin (RFC 3550 5.1): video counts at
90 kHz from its first access unit, audio (AAC made from the Opus) in samples from its first
packet. Video starts at the time its first access unit arrived, measured from the first
media of the publish. Audio is placed against the video when its first AAC frame goes out:
by the publisher's own clock when both streams have sent an RTCP sender report by then
(each maps an RTP timestamp to the sender's wall clock, one clock for both: RFC 3550
6.4.1), else by arrival like the video (within a few tens of milliseconds on a WHIP link).
The choice is made once: the audio never moves afterwards.

The packager chooses a stream's layout at its first frame, so the audio Track follows the
first video Track before any frame, and audio is held until the first video keyframe and
dropped when earlier than it: the stream starts with a picture, never audio-only, and no
frame lands before the timeline's start. Held audio is bounded.

Sans-I/O: arrival times are passed in (the adapter's monotonic clock).
"""

from __future__ import annotations

from collections import deque

from golive.ingest.whip.access_units import H264AccessUnits, VideoProblem
from golive.ingest.whip.rtp_timestamps import RtpTimestamps
from golive.media.frame import AUDIO_TRACK_ID, VIDEO_TIMESCALE, Frame, Track

__all__ = ["MAX_HELD_AUDIO", "WhipPublish"]

# Audio frames held while the first video keyframe is awaited (about 5 s of AAC at 48 kHz).
MAX_HELD_AUDIO = 240
OPUS_CLOCK = 48_000  # RTP clock rate of Opus, whatever its sampling rate (RFC 7587 4.1)
# Sender reports placing audio further than this from the video are not believed.
_MAX_REPORTED_OFFSET = 5.0
_WRAP = 1 << 32

Event = Track | Frame | VideoProblem


class WhipPublish:
    def __init__(self, *, audio_track: Track | None, sprop: tuple[bytes, ...] = ()) -> None:
        """``audio_track``: the AAC Track the Opus becomes (None when the offer has no
        audio); ``sprop``: H.264 parameter sets from the offer, if it had any."""
        self._units = H264AccessUnits(sprop)
        self._audio_track = audio_track
        self._clock = RtpTimestamps()
        self._origin: float | None = None  # arrival of the publish's first media
        self._video_base: int | None = None  # 90 kHz ticks of the first access unit
        self._video_first: int | None = None  # its extended RTP timestamp
        self._audio_arrival: float | None = None  # seconds: when the first Opus came
        self._audio_first: int | None = None  # its RTP timestamp
        self._audio_base: int | None = None  # audio timescale ticks of AAC sample 0 (decided)
        self._reports: dict[str, tuple[float, int]] = {}  # kind -> (NTP seconds, RTP ts)
        self.aligned_by: str | None = None  # "sender reports" or "arrival", once decided
        self._announced = False
        self._start: float | None = None  # seconds: the first video keyframe's time
        self._held: deque[tuple[int, bytes]] = deque(maxlen=MAX_HELD_AUDIO)
        self.video_frames = 0
        self.audio_frames = 0

    @property
    def started(self) -> bool:
        """Whether a video keyframe has gone out (the stream has a picture)."""
        return self._start is not None

    def video(self, annexb: bytes, rtp_timestamp: int, arrival: float) -> list[Event]:
        """One depacketized access unit, its RTP timestamp and its arrival time (seconds)."""
        origin = self._begin(arrival)
        ext = self._clock.extend(rtp_timestamp)
        if self._video_first is None:
            self._video_first = ext
            self._video_base = round((arrival - origin) * VIDEO_TIMESCALE)
        assert self._video_base is not None
        out: list[Event] = []
        for event in self._units.push(annexb, self._video_base + ext - self._video_first):
            if isinstance(event, Track):
                out.append(event)
                if not self._announced and self._audio_track is not None:
                    out.append(self._audio_track)
                self._announced = True
            elif isinstance(event, Frame):
                if self._start is None:
                    if not event.keyframe:
                        continue
                    self._start = event.dts / VIDEO_TIMESCALE
                    out.append(event)
                    self.video_frames += 1
                    out.extend(self._release_held())
                    continue
                self.video_frames += 1
                out.append(event)
            else:
                out.append(event)
        return out

    def sender_report(self, kind: str, ntp: float, rtp_timestamp: int) -> None:
        """An RTCP sender report of the ``kind`` ("video", "audio") stream: the sender's
        wall clock (NTP seconds) for an RTP timestamp."""
        self._reports[kind] = (ntp, rtp_timestamp)

    def audio_began(self, arrival: float, rtp_timestamp: int) -> None:
        """The first Opus packet arrived (its RTP timestamp is AAC sample 0)."""
        if self._audio_arrival is None:
            self._begin(arrival)
            self._audio_arrival = arrival
            self._audio_first = rtp_timestamp

    def audio(self, pts: int, data: bytes) -> list[Event]:
        """One AAC access unit, ``pts`` in samples from the first Opus packet's."""
        if self._audio_track is None or self._audio_arrival is None:
            return []
        if self._start is None:
            self._held.append((pts, data))
            return []
        return self._audio_out([(pts, data)])

    def _audio_out(self, units: list[tuple[int, bytes]]) -> list[Event]:
        track = self._audio_track
        assert track is not None and self._start is not None
        if self._audio_base is None:
            self._audio_base = self._place_audio(track.timescale)
        start = self._start * track.timescale
        out: list[Event] = []
        for pts, data in units:
            dts = self._audio_base + pts
            if dts >= start:  # earlier than the first picture: dropped
                out.append(Frame(AUDIO_TRACK_ID, dts, dts, True, data))
        self.audio_frames += len(out)
        return out

    def _place_audio(self, timescale: int) -> int:
        """AAC sample 0 on the timeline, in ``timescale`` ticks (decided once)."""
        video, audio = self._reports.get("video"), self._reports.get("audio")
        if (
            video is not None
            and audio is not None
            and self._video_first is not None
            and self._video_base is not None
            and self._audio_first is not None
        ):
            video_wall = video[0] + _since(self._video_first, video[1]) / VIDEO_TIMESCALE
            audio_wall = audio[0] + _since(self._audio_first, audio[1]) / OPUS_CLOCK
            offset = audio_wall - video_wall
            if abs(offset) < _MAX_REPORTED_OFFSET:
                self.aligned_by = "sender reports"
                return round((self._video_base / VIDEO_TIMESCALE + offset) * timescale)
        self.aligned_by = "arrival"
        assert self._origin is not None and self._audio_arrival is not None
        return round((self._audio_arrival - self._origin) * timescale)

    def _begin(self, arrival: float) -> float:
        if self._origin is None:
            self._origin = arrival
        return self._origin

    def _release_held(self) -> list[Event]:
        held, self._held = self._held, deque(maxlen=MAX_HELD_AUDIO)
        if not held or self._audio_track is None:
            return []
        return self._audio_out(list(held))


def _since(timestamp: int, reference: int) -> int:
    """RTP ticks from ``reference`` to ``timestamp`` (32-bit values), signed: within half
    the range either way."""
    delta = (timestamp - reference) % _WRAP
    return delta - _WRAP if delta >= _WRAP // 2 else delta
