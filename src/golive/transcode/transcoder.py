"""The transcoder of one live stream: an ffmpeg child, supervised.

A StreamConsumer of the stream's hub. Video frames go, as FLV, into one ffmpeg child that
encodes every rung of the ladder; each rendition comes back on its own pipe, is demuxed into
Frames and handed to the consumer the packager opened for it. Around that:

- **Never block the ingest.** Writing is an asyncio transport write; when the child does not
  take its input fast enough and the buffer passes a limit, frames are dropped up to the
  next keyframe (the decoder must restart on one) and counted.
- **Supervision.** A child that dies is reaped and replaced, starting at the next source
  keyframe; the renditions go on after a discontinuity. Too many deaths in a row and
  transcoding stops for the stream (the source goes on, as it always does).
- **Speed.** Input and output media time are compared continuously; when the slowest
  rendition falls behind real time the most expensive rendition is shed: closed for good and
  the child restarted without it.
- **Lifecycle.** A publisher that drops or reconnects ends the child's input (it drains) and
  the next keyframe starts a new one, so the renditions follow the source's timeline breaks;
  at the end of the stream the child drains and is reaped.

Output frames get their input frame's exact timestamp back (ffmpeg works in milliseconds),
so a rendition's keyframe has the very presentation time of the source keyframe it copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from golive.live.consumer import StreamConsumer
from golive.live.health import TranscodeHealth
from golive.media.flv import FlvDemuxer, FlvFormatError, UnsupportedCodecError
from golive.media.flv_reader import FlvTagReader
from golive.media.flv_writer import TAG_VIDEO, FlvMuxer, flv_file_header, metadata_tag
from golive.media.frame import VIDEO_TIMESCALE, Frame, Track, TrackKind
from golive.transcode.ffmpeg_child import FfmpegChild
from golive.transcode.ffmpeg_command import EncoderOptions, ffmpeg_arguments
from golive.transcode.frame_rate import FrameRateEstimate
from golive.transcode.ladder import EncodedRendition, LadderPlan, Rung, plan_ladder
from golive.transcode.speed import TranscodeSpeed

__all__ = ["RenditionOutputs", "StreamTranscoder", "TranscoderSettings"]

log = logging.getLogger("golive.transcode")

_PTS_MEMORY = 2048  # input frames whose exact timestamps are remembered
_MONITOR_EVERY = 1.0
_OVERLOADED_CHECKS = 2  # consecutive overloaded checks before shedding
_EARLY_FRAMES = 5  # at most this many frames wait for the frame rate before the first child
_REALTIME = 0.98  # below this speed (media seconds per second) the encoder is behind


class RenditionOutputs(Protocol):
    """Where encoded renditions go; the packager implements it."""

    def open_rendition(self, rendition: EncodedRendition) -> StreamConsumer:
        """A new rendition: the consumer its Tracks and Frames are given to."""

    def close_rendition(self, name: str) -> None:
        """The rendition is gone for good (shed); stop offering it to viewers."""


@dataclass(frozen=True, slots=True)
class TranscoderSettings:
    ffmpeg: str  # the ffmpeg binary
    encoder: EncoderOptions = field(default_factory=EncoderOptions)
    max_lag: float = 2.0  # seconds an encoder may fall behind before a rendition is shed
    max_input_buffer: int = 32 * 1024 * 1024  # bytes queued for the child before dropping
    startup_grace: float = 3.0  # seconds after a (re)start before speed is judged
    max_restarts: int = 5  # child deaths within restart_window before giving up
    restart_window: float = 60.0
    stop_grace: float = 2.0  # seconds a draining child gets before it is killed
    nice: int = 10  # priority steps the child runs below the server (the source comes first)


@dataclass(slots=True)
class _Output:
    """One rendition of one child: its FLV parser and demuxer."""

    name: str
    reader: FlvTagReader = field(default_factory=FlvTagReader)
    demuxer: FlvDemuxer = field(default_factory=FlvDemuxer)


@dataclass(slots=True)
class _Generation:
    """One child process and its outputs, from spawn to reaping."""

    renditions: tuple[EncodedRendition, ...]
    outputs: list[_Output]
    child: FfmpegChild | None = None
    stop_requested: bool = False
    started_at: float = 0.0
    eof: set[int] = field(default_factory=set)
    drained: asyncio.Event = field(default_factory=asyncio.Event)


class StreamTranscoder:
    """A StreamConsumer that encodes the stream's ladder in one supervised ffmpeg child."""

    def __init__(
        self,
        ladder: Sequence[Rung],
        outputs: RenditionOutputs,
        settings: TranscoderSettings,
        health: TranscodeHealth,
        *,
        log_extra: dict[str, object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ladder = tuple(ladder)
        self._outputs = outputs
        self._settings = settings
        self.health = health
        self._log_extra = dict(log_extra or {})
        self._clock = clock
        self._video: Track | None = None
        self._plan = LadderPlan((), False)
        self._excluded: set[str] = set()
        self._consumers: dict[str, StreamConsumer] = {}
        self._muxer = FlvMuxer()
        self._gen: _Generation | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._want_keyframe = True
        self._dropping = False
        self._ended = False
        self._failed = False
        self._finished: asyncio.Task[None] | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._pts_exact: dict[int, int] = {}
        self._pts_order: deque[int] = deque()
        self._speed = TranscodeSpeed(clock=clock)
        self._deaths: deque[float] = deque()
        self._overloaded = 0
        self._drops_seen = 0
        self._rate = FrameRateEstimate()
        self._early: list[Frame] = []  # a stream's first frames, while its rate is unknown

    # -- StreamConsumer -----------------------------------------------------------------------

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        video = next((t for t in tracks if t.kind is TrackKind.VIDEO), None)
        if video is None or video == self._video or self._ended or self._failed:
            return
        self._video = video
        self._muxer.set_tracks([video])
        if self._gen is not None:
            self._retire("the source's video changed")
        elif self._early:
            self._early = []
            self._want_keyframe = True
        self._replan()

    def on_frame(self, frame: Frame) -> None:
        video = self._video
        if video is None or frame.track_id != video.id or not self._plan.encoded:
            return
        if self._ended or self._failed:
            return
        self._rate.add(frame.dts, video.timescale)
        if self._want_keyframe:
            if not frame.keyframe:
                if self._dropping:
                    self.health.dropped_frames += 1  # lost to the same backlog
                return
            self._want_keyframe = False
        if self._gen is None:
            # The stream's first child is told the frame rate (see frame_rate.py), so it waits
            # for the two intervals that give it: two frames, 67 ms at 30 fps.
            if self._rate.fps is None and len(self._early) < _EARLY_FRAMES:
                self._early.append(frame)
                return
            self._start()
            early, self._early = self._early, []
            for held in early:
                self._write(held, video)
        self._write(frame, video)

    def _write(self, frame: Frame, video: Track) -> None:
        gen = self._gen
        assert gen is not None
        tag = self._muxer.tag(frame)
        child = gen.child
        limit = self._settings.max_input_buffer
        if child is None:
            if self._pending_bytes + len(tag) > limit:
                self._drop(len(self._pending) + 1)
                self._pending = [self._pending[0]]  # keep the FLV and sequence headers
                self._pending_bytes = len(self._pending[0])
                return
            self._pending.append(tag)
            self._pending_bytes += len(tag)
        elif child.write_buffer_size + len(tag) > limit:
            self._drop(1)
            return
        elif not child.write(tag):
            return
        self._dropping = False
        self._remember(frame, video.timescale)
        self._speed.input(frame.pts / video.timescale)

    def on_discontinuity(self) -> None:
        # The source's timeline broke (publisher gone or back, clock jump): let the child
        # drain, and start a new one on the next keyframe, so the renditions break with it.
        if self._gen is not None:
            self._retire(None)
        elif self._early:
            self._early = []
            self._want_keyframe = True

    def on_end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._gen is not None:
            self._retire(None)
        self._finished = asyncio.create_task(self._finish())

    # -- for the server -----------------------------------------------------------------------

    @property
    def plan(self) -> LadderPlan:
        return self._plan

    @property
    def ladder(self) -> tuple[Rung, ...]:
        return self._ladder

    @property
    def child_pid(self) -> int | None:
        gen = self._gen
        return gen.child.pid if gen is not None and gen.child is not None else None

    @property
    def finished(self) -> bool:
        """The stream ended and its last child has been reaped."""
        return self._finished is not None and self._finished.done()

    async def aclose(self) -> None:
        """End the stream's transcoding now and wait until the child is reaped."""
        self.on_end()
        if self._finished is not None:
            await self._finished

    def kill(self) -> None:
        """Kill the running child at once (shutdown past its deadline)."""
        gen = self._gen
        if gen is not None and gen.child is not None:
            gen.stop_requested = True
            gen.child.kill()

    # -- starting and stopping children -------------------------------------------------------

    def _replan(self) -> None:
        plan = plan_ladder(self._ladder, self._video, exclude=self._excluded)
        names = {r.name for r in plan.encoded}
        for name in [n for n in self._consumers if n not in names]:
            del self._consumers[name]
            self._speed.forget(name)
            self._outputs.close_rendition(name)
        for rendition in plan.encoded:
            if rendition.name not in self._consumers:
                self._consumers[rendition.name] = self._outputs.open_rendition(rendition)
        if plan.fallback_reason is not None and self._plan.fallback_reason is None:
            log.info(
                "adding the H.264 rendition %s: %s",
                ", ".join(f"{r.name} ({r.width}x{r.height})" for r in plan.encoded),
                plan.fallback_reason,
                extra=self._log_extra,
            )
        self._plan = plan
        self.health.renditions = tuple(r.name for r in plan.encoded)
        if plan.encoded and self._monitor is None:
            self._monitor = asyncio.create_task(self._watch())

    def _start(self) -> None:
        gen = _Generation(self._plan.encoded, [_Output(r.name) for r in self._plan.encoded])
        self._gen = gen
        header = flv_file_header(video=True, audio=False)
        assert self._video is not None
        header += metadata_tag(self._video, self._rate.fps)
        header += self._muxer.sequence_header(self._video)
        self._pending = [header]
        self._pending_bytes = len(header)
        previous = self._task
        self._task = asyncio.create_task(self._run(gen, previous))

    def _retire(self, reason: str | None) -> None:
        """Close the current child's input; the next keyframe starts a new child."""
        gen = self._gen
        if gen is None:
            return
        if reason is not None:
            log.info("restarting ffmpeg: %s", reason, extra=self._log_extra)
        gen.stop_requested = True
        if gen.child is not None:
            gen.child.close_input()
        self._gen = None
        self._want_keyframe = True
        self._early = []
        self._pending = []
        self._pending_bytes = 0

    async def _run(self, gen: _Generation, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            # One child at a time: the previous one's last frames come out first.
            with contextlib.suppress(Exception):
                await previous
        settings = self._settings
        try:
            child = await FfmpegChild.spawn(
                functools.partial(
                    ffmpeg_arguments, settings.ffmpeg, gen.renditions, options=settings.encoder
                ),
                len(gen.renditions),
                on_data=functools.partial(self._on_data, gen),
                on_eof=functools.partial(self._on_eof, gen),
                log_extra=self._log_extra,
                nice=settings.nice,
            )
        except Exception as exc:
            log.error("cannot start ffmpeg (%s): %s", settings.ffmpeg, exc, extra=self._log_extra)
            self._fail(f"cannot start ffmpeg: {exc}")
            return
        gen.child = child
        gen.started_at = self._clock()
        self.health.running = True
        self._speed.reset()
        log.info(
            "ffmpeg %d encoding %s",
            child.pid,
            ", ".join(f"{r.name} ({r.width}x{r.height})" for r in gen.renditions),
            extra=self._log_extra,
        )
        if gen.stop_requested:
            child.close_input()
        elif self._gen is gen:
            for tag in self._pending:
                child.write(tag)
            self._pending = []
            self._pending_bytes = 0
        code = await self._reap(gen, child)
        self.health.running = self._gen is not None and self._gen.child is not None
        if not gen.stop_requested:
            self._died(gen, child, code)
        for output in gen.outputs:
            consumer = self._consumers.get(output.name)
            if consumer is not None and not self._ended:
                self._deliver(consumer, "on_discontinuity")

    async def _reap(self, gen: _Generation, child: FfmpegChild) -> int:
        """Wait for the child to exit and for its outputs to be read to the end."""
        while True:
            try:
                async with asyncio.timeout(self._settings.stop_grace):
                    code = await child.wait()
                break
            except TimeoutError:
                if gen.stop_requested and child.stopping:
                    log.warning(
                        "ffmpeg %d did not exit after end of input; killing it",
                        child.pid,
                        extra=self._log_extra,
                    )
                    child.kill()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await gen.drained.wait()
        return code

    def _died(self, gen: _Generation, child: FfmpegChild, code: int) -> None:
        if self._gen is gen:
            self._gen = None
            self._want_keyframe = True
        now = self._clock()
        self._deaths.append(now)
        while self._deaths and now - self._deaths[0] > self._settings.restart_window:
            self._deaths.popleft()
        self.health.restarts += 1
        tail = " | ".join(list(child.stderr_tail)[-3:])
        log.warning(
            "ffmpeg %d exited with status %d%s; restarting on the next keyframe",
            child.pid,
            code,
            f" ({tail})" if tail else "",
            extra=self._log_extra,
        )
        if len(self._deaths) > self._settings.max_restarts:
            self._fail(
                f"ffmpeg died {len(self._deaths)} times in {self._settings.restart_window:.0f} s"
            )

    def _fail(self, reason: str) -> None:
        """Stop transcoding this stream for good; the source is unaffected."""
        if self._failed:
            return
        self._failed = True
        self.health.failed = reason
        log.error(
            "transcoding stopped: %s; only the source is offered", reason, extra=self._log_extra
        )
        if self._gen is not None:
            self._retire(None)
        for name in list(self._consumers):
            self._outputs.close_rendition(name)
        self._consumers.clear()
        self.health.renditions = ()

    async def _finish(self) -> None:
        task = self._task
        if task is not None:
            with contextlib.suppress(Exception):
                await task
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
        for consumer in self._consumers.values():
            self._deliver(consumer, "on_end")
        self.health.running = False

    # -- outputs ------------------------------------------------------------------------------

    def _on_data(self, gen: _Generation, index: int, data: bytes) -> None:
        output = gen.outputs[index]
        try:
            tags = output.reader.feed(data)
        except FlvFormatError as exc:
            log.error("ffmpeg output %s is not FLV: %s", output.name, exc, extra=self._log_extra)
            if gen.child is not None:
                gen.child.kill()
            return
        consumer = self._consumers.get(output.name)
        for tag in tags:
            if tag.type != TAG_VIDEO:
                continue
            try:
                items = output.demuxer.video(tag.timestamp_ms, tag.body)
            except (FlvFormatError, UnsupportedCodecError) as exc:
                log.warning("bad tag from ffmpeg (%s): %s", output.name, exc, extra=self._log_extra)
                continue
            if consumer is None:
                continue
            for item in items:
                if isinstance(item, Track):
                    self._deliver(consumer, "on_tracks", [item])
                    continue
                self._restore(item)
                self._deliver(consumer, "on_frame", item)
                self._speed.output(output.name, item.pts / VIDEO_TIMESCALE)

    def _on_eof(self, gen: _Generation, index: int) -> None:
        gen.eof.add(index)
        if len(gen.eof) == len(gen.outputs):
            gen.drained.set()

    def _deliver(self, consumer: StreamConsumer, method: str, *args: object) -> None:
        try:
            getattr(consumer, method)(*args)
        except Exception:
            log.exception(
                "rendition consumer %r failed in %s", consumer, method, extra=self._log_extra
            )

    # -- timestamps -----------------------------------------------------------------------------

    def _remember(self, frame: Frame, timescale: int) -> None:
        key = (frame.pts * 1000 + timescale // 2) // timescale
        if key not in self._pts_exact:
            self._pts_order.append(key)
            if len(self._pts_order) > _PTS_MEMORY:
                self._pts_exact.pop(self._pts_order.popleft(), None)
        self._pts_exact[key] = frame.pts

    def _restore(self, frame: Frame) -> None:
        """Give an output frame the exact timestamp of the input frame it was encoded from."""
        video = self._video
        if video is None:
            return
        ms = frame.pts * 1000 // video.timescale
        for key in (ms, ms - 1, ms + 1):
            exact = self._pts_exact.get(key)
            if exact is not None:
                delta = exact - frame.pts
                frame.pts = exact
                frame.dts += delta
                return

    # -- speed and shedding ---------------------------------------------------------------------

    def _drop(self, frames: int) -> None:
        self.health.dropped_frames += frames
        self._want_keyframe = True
        if not self._dropping:
            self._dropping = True
            log.warning(
                "ffmpeg is not taking its input fast enough: dropping video up to the next "
                "keyframe",
                extra=self._log_extra,
            )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(_MONITOR_EVERY)
            self._check_speed()

    def _check_speed(self) -> None:
        speed = self._speed.sample()
        lag = self._speed.lag
        health = self.health
        health.speed = speed
        health.lag = lag
        gen = self._gen
        drops = health.dropped_frames - self._drops_seen
        self._drops_seen = health.dropped_frames
        if gen is None or gen.child is None or gen.stop_requested:
            self._overloaded = 0
            return
        if self._clock() - gen.started_at < self._settings.startup_grace:
            return
        behind = lag is not None and lag > self._settings.max_lag
        slow = speed is None or speed < _REALTIME
        if (behind and slow) or drops > 0:
            self._overloaded += 1
        else:
            self._overloaded = 0
        if self._overloaded >= _OVERLOADED_CHECKS:
            self._overloaded = 0
            self._shed(speed, lag)

    def _shed(self, speed: float | None, lag: float | None) -> None:
        victim = self._plan.most_expensive
        if victim is None:
            return
        self._excluded.add(victim.name)
        health = self.health
        health.sheds += 1
        health.shed = (*health.shed, victim.name)
        log.warning(
            "transcoding is behind real time (speed %s, %s behind): shedding rendition %s",
            f"{speed:.2f}x" if speed is not None else "unknown",
            f"{lag:.1f} s" if lag is not None else "unknown",
            victim.name,
            extra=self._log_extra,
        )
        if self._gen is not None:
            self._retire(None)
        self._replan()
