"""Ingest health of one live stream: bitrate, frame rate, keyframe interval, codecs."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from golive.media.frame import Frame, Track, TrackKind

_SAMPLE_EVERY = 1.0  # seconds between rate samples
_SAMPLES = 6  # rates are averaged over the last five seconds


@dataclass(slots=True)
class TranscodeHealth:
    """The transcoder's state, written by it and read by snapshots, logs and metrics.

    Counters only grow over the stream's life; ``speed`` is output media seconds per wall
    second over the last few seconds, ``lag`` the media time between the newest frame sent
    to the encoder and the newest frame that came back (the slowest rendition's).
    """

    renditions: tuple[str, ...] = ()  # encoded renditions being produced
    shed: tuple[str, ...] = ()  # renditions dropped because encoding fell behind
    running: bool = False  # an encoder process is up
    speed: float | None = None
    lag: float | None = None
    restarts: int = 0  # encoder processes restarted after they died
    sheds: int = 0  # renditions shed so far
    dropped_frames: int = 0  # frames not sent because the encoder's input was backed up
    failed: str | None = None  # why transcoding stopped for good, if it did
    capped: str | None = None  # why the stream is served passthrough instead of its ladder


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """What an operator or streamer dashboard shows about a live stream's input."""

    bitrate_bps: float
    fps: float
    keyframe_interval: float | None
    video_codec: str | None
    audio_codec: str | None
    width: int
    height: int
    audio_sample_rate: int
    frames: int
    bytes: int
    uptime: float
    transcode: TranscodeHealth = field(default_factory=TranscodeHealth)


class StreamHealth:
    """Counts cheaply per frame; turns counts into rates only when asked."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._bytes = 0
        self._video_frames = 0
        self._frames = 0
        self._samples: deque[tuple[float, int, int]] = deque(maxlen=_SAMPLES)
        self._samples.append((self._started, 0, 0))
        self._next_sample = self._started + _SAMPLE_EVERY
        self._video: Track | None = None
        self._audio: Track | None = None
        self._last_keyframe: int | None = None
        self._keyframe_interval: float | None = None
        self.transcode = TranscodeHealth()

    def set_tracks(self, tracks: list[Track]) -> None:
        self._video = next((t for t in tracks if t.kind is TrackKind.VIDEO), None)
        self._audio = next((t for t in tracks if t.kind is TrackKind.AUDIO), None)
        self._last_keyframe = None

    def observe(self, frame: Frame) -> None:
        self._bytes += len(frame.data)
        self._frames += 1
        video = self._video
        if video is not None and frame.track_id == video.id:
            self._video_frames += 1
            if frame.keyframe:
                last = self._last_keyframe
                if last is not None and frame.dts > last:
                    self._keyframe_interval = (frame.dts - last) / video.timescale
                self._last_keyframe = frame.dts
        now = self._clock()
        if now >= self._next_sample:
            self._samples.append((now, self._bytes, self._video_frames))
            self._next_sample = now + _SAMPLE_EVERY

    def discontinuity(self) -> None:
        self._last_keyframe = None

    def snapshot(self) -> HealthSnapshot:
        now = self._clock()
        t0, b0, f0 = self._samples[0]
        span = now - t0
        bitrate = (self._bytes - b0) * 8 / span if span > 0 else 0.0
        fps = (self._video_frames - f0) / span if span > 0 else 0.0
        video, audio = self._video, self._audio
        return HealthSnapshot(
            bitrate_bps=bitrate,
            fps=fps,
            keyframe_interval=self._keyframe_interval,
            video_codec=video.codec if video else None,
            audio_codec=audio.codec if audio else None,
            width=video.width if video else 0,
            height=video.height if video else 0,
            audio_sample_rate=audio.sample_rate if audio else 0,
            frames=self._frames,
            bytes=self._bytes,
            uptime=now - self._started,
            transcode=replace(self.transcode),
        )
