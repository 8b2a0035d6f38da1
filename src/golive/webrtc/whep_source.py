"""One live stream as WebRTC viewers get it: H.264 as published, Opus made once, RTP once.

A ``WhepSource`` is a StreamConsumer of the stream's hub. Each video frame becomes RTP
packets once (rtp_packetizer.py: SPS and PPS before each keyframe, FU-A for large NAL units),
with one SSRC, sequence and timestamp per stream; the AAC audio is transcoded to Opus once,
in a worker thread, while anyone listens, and packetized once too. Every viewer's sink then
only encrypts and sends the shared packets (rtp_fanout.py, rtp_outlet.py). A viewer starts
at the first packet of the next keyframe: one that joins mid-GOP gets nothing until then (at
most a keyframe interval).

WebRTC has no reordering delay: frames with B-frames (pts != dts, OBS's default) cannot be
sent as they are. Once the source shows any, the viewers get the highest transcoded
rendition instead (which has none), fed through ``rendition_input``; with no transcoded
rendition the stream cannot be played over WebRTC (``unavailable``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from golive.media.frame import VIDEO_TIMESCALE, Frame, Track, TrackKind
from golive.webrtc.h264_access_units import AccessUnits
from golive.webrtc.opus_transcode import OPUS_RATE, OpusPacket, OpusTranscoder
from golive.webrtc.rtp_fanout import RtpBatch, RtpFanout, RtpSink
from golive.webrtc.rtp_history import RtpHistory
from golive.webrtc.rtp_packetizer import HEADER_SIZE, RtpPacketizer

__all__ = ["SOURCE", "RenditionInput", "WhepSource", "WhepViewer"]

log = logging.getLogger("golive.webrtc")

SOURCE = "source"
# The payload types the shared packets carry; a viewer whose answer numbered the codec
# otherwise gets a rewritten copy (made once per number).
VIDEO_PAYLOAD_TYPE = 96
AUDIO_PAYLOAD_TYPE = 111
# Batches the fan-out may hold unsent (about 3 s of video and audio) before every viewer
# is made to start again at a keyframe: the node is out of CPU.
FANOUT_BACKLOG = 150
_NTP_EPOCH = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)


@dataclass(eq=False, slots=True)
class WhepViewer:
    """One viewer: its sinks (set once its answer is made), whether it is ready for media
    (connected) and whether its video has started (at a keyframe)."""

    wants_audio: bool
    video: RtpSink | None = None
    audio: RtpSink | None = None
    ready: bool = True
    started: bool = False
    keyframes: int = 0
    ended: bool = False

    def end(self) -> None:
        self.ended = True
        for sink in (self.video, self.audio):
            if sink is not None:
                sink.close()


@dataclass(slots=True)
class _Feed:
    """One H.264 input: the source, or a transcoded rendition."""

    name: str
    height: int
    units: AccessUnits | None = None
    last_keyframe: int | None = None
    keyframe_interval: float | None = None  # seconds between the last two keyframes


@dataclass(slots=True)
class _AudioState:
    transcoder: OpusTranscoder | None = None
    timescale: int = 0
    pending: list[tuple[int, bytes]] = field(default_factory=list)
    reset: bool = False
    task: asyncio.Task[None] | None = None
    marker: bool = True  # the next packet starts a talkspurt


class _WallClock:
    """Media time to NTP wall-clock time, for sender reports: one linear map per stream, so
    audio and video reports agree (lip sync), anchored again after a discontinuity."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self._wall = wall
        self._anchor: tuple[float, float] | None = None  # (wall seconds, media seconds)

    def reset(self) -> None:
        self._anchor = None

    def ntp(self, media_seconds: float) -> int:
        if self._anchor is None:
            self._anchor = (self._wall(), media_seconds)
        wall, media = self._anchor
        return int((wall + _NTP_EPOCH + media_seconds - media) * (1 << 32)) & (2**64 - 1)


class WhepSource:
    """A StreamConsumer: the stream's packets for its WebRTC viewers."""

    def __init__(
        self,
        channel: str,
        *,
        executor: Executor | None = None,
        log_extra: dict[str, object] | None = None,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.channel = channel
        self._executor = executor
        rng = rng or random.SystemRandom()
        # Sequence numbers start in the lower half, far from a wrap (as browsers do).
        self._video_rtp = RtpPacketizer(
            rng.getrandbits(32),
            VIDEO_PAYLOAD_TYPE,
            sequence=rng.getrandbits(15),
            timestamp_offset=rng.getrandbits(32),
        )
        self._audio_rtp = RtpPacketizer(
            rng.getrandbits(32),
            AUDIO_PAYLOAD_TYPE,
            sequence=rng.getrandbits(15),
            timestamp_offset=rng.getrandbits(32),
        )
        if self._audio_rtp.ssrc == self._video_rtp.ssrc:
            self._audio_rtp.ssrc ^= 1
        self._clock = _WallClock(wall)
        self._fanout = RtpFanout(channel)
        self.video_history = RtpHistory()  # what viewers' NACKs are answered from
        self._log_extra = dict(log_extra or {})
        self._viewers: list[WhepViewer] = []
        self._feeds: dict[str, _Feed] = {SOURCE: _Feed(SOURCE, 0)}
        self._has_audio = False
        self._video_id = self._audio_id = -1
        self._audio = _AudioState()
        self.bframes = False  # the source's video has frames out of order
        self.ended = False
        self._end_listeners: list[Callable[[], None]] = []

    # -- what viewers are offered ----------------------------------------------------------

    @property
    def feed(self) -> str | None:
        """The input viewers get (SOURCE or a rendition's name), None when there is none."""
        if self.why_not_source is None:
            return SOURCE
        renditions = [f for f in self._feeds.values() if f.name != SOURCE and f.units]
        return max(renditions, key=lambda f: f.height).name if renditions else None

    @property
    def why_not_source(self) -> str | None:
        """Why viewers cannot get the source as published, or None when they can."""
        if self.bframes:
            return "source has B-frames"
        if self._feeds[SOURCE].units is None:
            # HEVC, AV1...: the transcoder's H.264 renditions are the way out.
            return "source is not H.264" if self._video_id >= 0 else "no H.264 video yet"
        return None

    def unavailable(self) -> str | None:
        """Why nobody can watch over WebRTC now, or None."""
        if self.ended:
            return "the stream has ended"
        if self.feed is not None:
            return None
        reason = self.why_not_source
        if reason == "no H.264 video yet":
            return "the stream has no H.264 video yet"
        return f"the {reason} and no transcoded H.264 rendition: it cannot be played over WebRTC"

    @property
    def has_audio(self) -> bool:
        return self._has_audio

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    @property
    def video_ssrc(self) -> int:
        """The SSRC of the stream's video, the same for every viewer."""
        return self._video_rtp.ssrc

    @property
    def audio_ssrc(self) -> int:
        return self._audio_rtp.ssrc

    async def sent(self) -> None:
        """Wait until every packet made so far has gone to the viewers' sinks."""
        await self._fanout.flushed()

    @property
    def keyframe_interval(self) -> float | None:
        """Seconds between the last two keyframes of what viewers get: at most how long a
        new viewer waits for its first picture."""
        feed = self._feeds.get(self.feed or "")
        return None if feed is None else feed.keyframe_interval

    def subscribe(self, *, audio: bool, ready: bool = True) -> WhepViewer:
        """A new viewer (its sinks are given once its answer is made); one not ``ready``
        (still connecting) gets nothing until it is, and then starts at the next keyframe:
        a burst of what came while it connected would only add to its latency."""
        viewer = WhepViewer(wants_audio=audio and self._has_audio, ready=ready)
        self._viewers.append(viewer)
        return viewer

    def unsubscribe(self, viewer: WhepViewer) -> None:
        if viewer in self._viewers:
            self._viewers.remove(viewer)
        viewer.end()

    def add_end_listener(self, listener: Callable[[], None]) -> None:
        self._end_listeners.append(listener)

    # -- StreamConsumer ----------------------------------------------------------------------

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self._has_audio = False
        self._audio_id = self._video_id = -1
        for track in tracks:
            if track.kind is TrackKind.VIDEO:
                self._video_id = track.id
                self._feeds[SOURCE].units = _access_units(track)
            elif track.kind is TrackKind.AUDIO and track.sample_entry == "mp4a":
                self._has_audio = True
                self._audio_id = track.id
                self._audio.timescale = track.timescale
                if self._audio.transcoder is None or self._audio.transcoder.asc != track.config:
                    self._audio.transcoder = OpusTranscoder(track.config)

    def on_frame(self, frame: Frame) -> None:
        if frame.track_id == self._audio_id:
            self._audio_frame(frame)
            return
        feed = self._feeds[SOURCE]
        if frame.track_id != self._video_id or feed.units is None:
            return
        if frame.pts != frame.dts and not self.bframes:
            self.bframes = True
            log.info(
                "%s: the source has B-frames; WebRTC viewers get the transcoded rendition",
                self.channel,
                extra=self._log_extra,
            )
            self._restart_viewers()
        if self.feed == SOURCE:
            self._video_frame(feed, frame)

    def on_discontinuity(self) -> None:
        self._audio.reset = True
        self._clock.reset()
        self._restart_viewers()

    def on_end(self) -> None:
        self.ended = True
        for viewer in self._viewers:
            viewer.end()
        self._viewers.clear()
        self._fanout.clear()
        listeners, self._end_listeners = self._end_listeners, []
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("WebRTC end listener failed", extra=self._log_extra)

    # -- transcoded renditions ---------------------------------------------------------------

    def rendition_input(self, name: str, height: int) -> RenditionInput:
        """The consumer a transcoded rendition's frames are also given to."""
        self._feeds[name] = _Feed(name, height)
        return RenditionInput(self, name)

    def rendition_closed(self, name: str) -> None:
        before = self.feed
        self._feeds.pop(name, None)
        if self.feed != before:
            self._restart_viewers()

    def _rendition_tracks(self, name: str, tracks: Sequence[Track]) -> None:
        feed = self._feeds.get(name)
        if feed is None:
            return
        before = self.feed
        for track in tracks:
            if track.kind is TrackKind.VIDEO:
                feed.units = _access_units(track)
        if self.feed != before:
            self._restart_viewers()

    def _rendition_frame(self, name: str, frame: Frame) -> None:
        feed = self._feeds.get(name)
        if feed is not None and feed.units is not None and self.feed == name:
            self._video_frame(feed, frame)

    # -- delivery ----------------------------------------------------------------------------

    def _restart_viewers(self) -> None:
        # A new input (or a broken timeline): each viewer waits for its next keyframe.
        for viewer in self._viewers:
            viewer.started = False

    def _video_frame(self, feed: _Feed, frame: Frame) -> None:
        if frame.keyframe:
            if feed.last_keyframe is not None and frame.pts > feed.last_keyframe:
                feed.keyframe_interval = (frame.pts - feed.last_keyframe) / VIDEO_TIMESCALE
            feed.last_keyframe = frame.pts
        if self._fanout.backlog > FANOUT_BACKLOG:
            log.warning(
                "%s: WebRTC viewers are %d batches behind: restarting them at a keyframe",
                self.channel,
                self._fanout.backlog,
                extra=self._log_extra,
            )
            self._fanout.clear()
            self._restart_viewers()
        watching = [v for v in self._viewers if v.ready and v.video is not None]
        if feed.units is None or not watching:
            return
        if not frame.keyframe and not any(v.started for v in watching):
            return
        try:
            nal_units = feed.units.nal_units(frame.data, keyframe=frame.keyframe)
        except ValueError as exc:
            log.warning("%s: bad H.264 frame for WebRTC: %s", self.channel, exc)
            return
        sinks: list[RtpSink] = []
        for viewer in watching:
            if not viewer.started:
                if not frame.keyframe:
                    continue
                viewer.started = True
            if frame.keyframe:
                viewer.keyframes += 1
            assert viewer.video is not None
            sinks.append(viewer.video)
        rtp = self._video_rtp
        packets = rtp.h264(nal_units, frame.pts)
        self.video_history.add(packets)
        batch = RtpBatch(
            packets,
            rtp.payload_type,
            rtp.timestamp(frame.pts),
            self._clock.ntp(frame.pts / VIDEO_TIMESCALE),
            sum(len(p) for p in packets) - HEADER_SIZE * len(packets),
        )
        self._fanout.push(batch, sinks)

    def _audio_frame(self, frame: Frame) -> None:
        audio = self._audio
        if audio.transcoder is None or not any(v.wants_audio for v in self._viewers):
            return
        audio.pending.append((frame.dts, frame.data))
        if audio.task is None or audio.task.done():
            audio.task = asyncio.get_running_loop().create_task(self._drain_audio())

    async def _drain_audio(self) -> None:
        audio = self._audio
        loop = asyncio.get_running_loop()
        while audio.pending and audio.transcoder is not None:
            batch, audio.pending = audio.pending, []
            transcoder, reset = audio.transcoder, audio.reset
            audio.reset = False
            audio.marker = audio.marker or reset
            try:
                packets = await loop.run_in_executor(
                    self._executor, _transcode, transcoder, batch, audio.timescale, reset
                )
            except Exception:
                log.exception("%s: Opus transcode failed", self.channel, extra=self._log_extra)
                return
            self._deliver_audio(packets)

    def _deliver_audio(self, opus: list[OpusPacket]) -> None:
        # Audio goes to viewers whose video has started, so both begin together.
        sinks = [v.audio for v in self._viewers if v.audio is not None and v.started]
        if not sinks or not opus:
            return
        rtp, audio = self._audio_rtp, self._audio
        packets = []
        for packet in opus:
            packets.append(rtp.opus(packet.data, packet.pts, marker=audio.marker))
            audio.marker = False
        last = opus[-1].pts
        batch = RtpBatch(
            packets,
            rtp.payload_type,
            rtp.timestamp(last),
            self._clock.ntp(last / OPUS_RATE),
            sum(len(p.data) for p in opus),
        )
        self._fanout.push(batch, sinks)


class RenditionInput:
    """A transcoded rendition's frames, as a StreamConsumer, into its source."""

    def __init__(self, source: WhepSource, name: str) -> None:
        self._source = source
        self._name = name

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self._source._rendition_tracks(self._name, tracks)

    def on_frame(self, frame: Frame) -> None:
        self._source._rendition_frame(self._name, frame)

    def on_discontinuity(self) -> None:
        pass

    def on_end(self) -> None:
        self._source.rendition_closed(self._name)


def _access_units(track: Track) -> AccessUnits | None:
    if track.sample_entry != "avc1":
        return None
    return AccessUnits(track.config)


def _transcode(
    transcoder: OpusTranscoder, batch: list[tuple[int, bytes]], timescale: int, reset: bool
) -> list[OpusPacket]:
    if reset:
        transcoder.reset()
    return transcoder.transcode(batch, timescale)
