"""One WHIP publisher: its peer connection (aiortc), its media into the stream's sink.

The asyncio adapter around the sans-I/O parts: the offer is answered by aiortc with
H.264 and Opus only; the receivers' encoded frames are taken before any decoder
(received_units.py); H.264 access units go through ``WhipPublish`` on the event loop, the
Opus packets through ``OpusToAac`` on the session's own worker thread (one at a time, in
order), and the AAC back through ``WhipPublish``. Bounded: ICE and DTLS must complete within
``connect_timeout``, media must keep coming (``media_timeout``) and a video keyframe must
come within ``keyframe_timeout`` of the first media; the Opus backlog is capped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpReceiver,
    RTCSessionDescription,
)

from golive.ingest.whip import received_units
from golive.ingest.whip.access_units import VideoProblem
from golive.ingest.whip.h264_profiles import offer_for_stack, restore_profiles
from golive.ingest.whip.offer_check import CheckedOffer
from golive.ingest.whip.opus_to_aac import AAC_SAMPLE_RATE, OpusToAac
from golive.ingest.whip.whip_publish import WhipPublish
from golive.media.aac import parse_asc
from golive.media.frame import AUDIO_TRACK_ID, Frame, Track, TrackKind

__all__ = ["StreamSink", "WhipLimits", "WhipSession"]

log = logging.getLogger("golive.ingest.whip")

_MAX_OPUS_BACKLOG = 250  # packets (5 s) waiting for the audio worker
# Seconds the end of a publish waits for the AAC encoder's last frames.
_TAIL_TIMEOUT = 2.0
_PLI_INTERVAL = 1.0  # seconds between keyframe requests while there is no picture


class StreamSink(Protocol):
    """Where a publisher's media goes (live/'s PublisherSession, structurally)."""

    def on_track(self, track: Track) -> None: ...
    def on_frame(self, frame: Frame) -> None: ...
    def on_close(self, reason: str) -> None: ...


@dataclass(frozen=True)
class WhipLimits:
    max_sessions: int = 50  # for the whole server
    connect_timeout: float = 15.0  # from the answer until ICE and DTLS are done
    media_timeout: float = 10.0  # no media at all for this long ends the publish
    keyframe_timeout: float = 10.0  # from the first media until a video keyframe
    # STUN/TURN servers (settings' webrtc_ice_servers); none: host candidates only.
    ice_servers: tuple[RTCIceServer, ...] = ()


class WhipSession:
    def __init__(
        self,
        session_id: str,
        offer: CheckedOffer,
        *,
        remote_addr: str,
        limits: WhipLimits,
        on_end: Callable[[WhipSession], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = session_id
        self.remote_addr = remote_addr
        self._offer = offer
        self._limits = limits
        self._on_end = on_end
        self._clock = clock
        self._sink: StreamSink | None = None
        self._log_extra: dict[str, object] = {}
        self._pc: RTCPeerConnection | None = None
        self._publish: WhipPublish | None = None
        self._aac: OpusToAac | None = None
        self._worker: ThreadPoolExecutor | None = None
        # Opus packets for the AAC encoder; None: the publish ended, flush and stop.
        self._opus: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._audio_task: asyncio.Task[None] | None = None
        self._ending_sink: StreamSink | None = None  # the sink the AAC tail still goes to
        self._finishing: asyncio.Task[None] | None = None  # the end: AAC tail, close, release
        self._connected = False
        self._first_media: float | None = None
        self._last_media = 0.0
        self._dropped_opus = 0
        self._problems: set[str] = set()
        self._profiles: dict[str, str] = {}  # H.264 profiles offered, by payload type
        self._video_receiver: RTCRtpReceiver | None = None
        self._last_pli = -_PLI_INTERVAL
        self._pli: asyncio.Task[bool] | None = None
        self.ended: str | None = None

    # -- set-up -------------------------------------------------------------------------

    async def prepare_audio(self) -> None:
        """Opens the AAC encoder (on the worker thread) when the offer has audio."""
        if not self._offer.audio:
            return
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"whip-audio-{self.id[:8]}")
        loop = asyncio.get_running_loop()
        self._aac = await loop.run_in_executor(self._worker, OpusToAac)

    def _audio_track(self) -> Track | None:
        if self._aac is None:
            return None
        asc = self._aac.audio_specific_config
        config = parse_asc(asc)
        return Track(
            id=AUDIO_TRACK_ID,
            kind=TrackKind.AUDIO,
            codec=config.codec,
            timescale=AAC_SAMPLE_RATE,
            config=asc,
            sample_rate=AAC_SAMPLE_RATE,
            channels=config.channels,
        )

    async def negotiate(self) -> None:
        """Hands the offer to aiortc (before the admission: no socket is opened yet, and an
        offer aiortc cannot take is refused without a publish opened and closed). Raises
        ValueError when the offer cannot be negotiated."""
        # An empty list, not None: aiortc would otherwise ask a public STUN server.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self._limits.ice_servers)))
        self._pc = pc
        video = pc.addTransceiver("video", direction="recvonly")
        self._video_receiver = video.receiver
        video.setCodecPreferences(_codecs("video", "video/h264"))
        if self._offer.audio:
            audio = pc.addTransceiver("audio", direction="recvonly")
            audio.setCodecPreferences(_codecs("audio", "audio/opus"))

        @pc.on("connectionstatechange")
        def _state() -> None:
            state = pc.connectionState
            if state == "connected":
                self._connected = True
                self._last_media = self._clock()  # the media timeout counts from here
                log.info("WHIP publisher %s connected", self.remote_addr, extra=self._log_extra)
            elif state in ("failed", "closed"):
                self.end(f"WebRTC connection {state}")

        offer, self._profiles = offer_for_stack(self._offer.sdp)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        except Exception as exc:  # aiortc raises ValueError and its own errors
            raise ValueError(f"the offer cannot be negotiated: {exc}") from None
        for transceiver in pc.getTransceivers():
            received_units.install(
                transceiver.receiver, self._encoded_frame, self._reporter(transceiver.kind)
            )

    def admitted(self, sink: StreamSink, log_extra: dict[str, object]) -> None:
        """The admission's sink for this publish: it hears the end from now on."""
        self._sink = sink
        self._log_extra = log_extra

    async def answer(self) -> str:
        """The SDP answer (ICE candidates gathered: the sockets open here); the media then
        goes to the admitted sink."""
        pc = self._pc
        assert pc is not None and self._sink is not None
        self._publish = WhipPublish(audio_track=self._audio_track(), sprop=self._offer.sprop)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        self._last_media = self._clock()
        self._tasks.append(asyncio.create_task(self._watch(), name=f"whip-watch-{self.id[:8]}"))
        if self._aac is not None:
            self._audio_task = asyncio.create_task(self._audio(), name=f"whip-aac-{self.id[:8]}")
            self._tasks.append(self._audio_task)
        local = pc.localDescription
        assert local is not None
        return restore_profiles(local.sdp, self._profiles)

    # -- media --------------------------------------------------------------------------

    def _reporter(self, kind: str) -> Callable[[float, int], None]:
        def report(ntp: float, rtp_timestamp: int) -> None:
            if self._publish is not None:
                self._publish.sender_report(kind, ntp, rtp_timestamp)

        return report

    def _encoded_frame(self, mime: str, data: bytes, timestamp: int) -> None:
        # Called inside aiortc's RTP handling: nothing may escape into it.
        try:
            self._media(mime, data, timestamp)
        except Exception:
            log.exception("WHIP media handling failed", extra=self._log_extra)
            self.end("internal server error: the stream cannot be ingested")

    def _media(self, mime: str, data: bytes, timestamp: int) -> None:
        if self.ended is not None or self._publish is None:
            return
        now = self._clock()
        self._last_media = now
        if self._first_media is None:
            self._first_media = now
        if mime == "video/h264":
            self._deliver(self._publish.video(data, timestamp, now))
            if not self._publish.started and now - self._last_pli >= _PLI_INTERVAL:
                # No picture yet: ask for a keyframe rather than wait for the encoder's next
                # (OBS's automatic interval is several seconds).
                self._last_pli = now
                self._request_keyframe()
        elif mime == "audio/opus" and self._aac is not None:
            if self._opus.qsize() >= _MAX_OPUS_BACKLOG:
                self._dropped_opus += 1
                if self._dropped_opus == 1:
                    log.warning(
                        "WHIP audio: the AAC encoder falls behind; Opus packets dropped",
                        extra=self._log_extra,
                    )
                return
            self._publish.audio_began(now, timestamp)
            self._opus.put_nowait((data, timestamp))

    def _request_keyframe(self) -> None:
        receiver = self._video_receiver
        if receiver is None or (self._pli is not None and not self._pli.done()):
            return
        self._pli = asyncio.get_running_loop().create_task(
            received_units.request_keyframe(receiver)
        )

    def _deliver(
        self, events: list[Track | Frame | VideoProblem], sink: StreamSink | None = None
    ) -> None:
        """To the publish's sink; ``sink``: the ending publish's, for the AAC tail."""
        if sink is None:
            sink = self._sink
            if sink is None:
                return
        for event in events:
            if self.ended is not None and sink is not self._ending_sink:
                return
            if isinstance(event, Frame):
                sink.on_frame(event)
            elif isinstance(event, Track):
                sink.on_track(event)
            elif event.message not in self._problems:
                self._problems.add(event.message)  # each said once per publish
                log.warning("WHIP video: %s", event.message, extra=self._log_extra)

    async def _audio(self) -> None:
        try:
            await self._audio_loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("WHIP audio (Opus to AAC) failed", extra=self._log_extra)
            self.end("internal server error: the audio cannot be converted")

    async def _audio_loop(self) -> None:
        loop = asyncio.get_running_loop()
        aac, worker, publish = self._aac, self._worker, self._publish
        assert aac is not None and worker is not None and publish is not None
        aligned = False
        ending = False
        while not ending:
            batch: list[tuple[bytes, int]] = []
            item = await self._opus.get()
            while True:
                if item is None:
                    ending = True
                    break
                batch.append(item)
                if self._opus.empty() or len(batch) >= 50:
                    break
                item = self._opus.get_nowait()
            units = await loop.run_in_executor(worker, _encode_batch, aac, batch, ending)
            sink = self._ending_sink if self.ended is not None else None
            for pts, data in units:
                self._deliver(publish.audio(pts, data), sink)
            if not aligned and publish.aligned_by is not None:
                aligned = True
                log.info(
                    "WHIP audio placed against the video by %s",
                    publish.aligned_by,
                    extra=self._log_extra,
                )

    async def _watch(self) -> None:
        limits = self._limits
        started = self._clock()
        while self.ended is None:
            await asyncio.sleep(0.5)
            now = self._clock()
            if not self._connected and now - started > limits.connect_timeout:
                self.end(f"ICE/DTLS did not complete within {limits.connect_timeout:g} s")
            elif self._connected and now - self._last_media > limits.media_timeout:
                self.end(f"no media for {limits.media_timeout:g} s")
            elif (
                self._first_media is not None
                and self._publish is not None
                and not self._publish.started
                and now - self._first_media > limits.keyframe_timeout
            ):
                self.end(
                    f"no H.264 keyframe (IDR) within {limits.keyframe_timeout:g} s of video: "
                    "set a keyframe interval (OBS: Keyframe Interval 1-2 s; ffmpeg: -g)"
                )

    # -- ending -------------------------------------------------------------------------

    def end(self, reason: str) -> None:
        """Ends the publish (idempotent): the sink hears why, the connection closes."""
        if self.ended is not None:
            return
        self.ended = reason
        if self._sink is not None:  # a publish was admitted (a refusal is logged as one)
            level = logging.INFO if reason == "publisher ended the session" else logging.WARNING
            log.log(
                level,
                "WHIP publish from %s ended: %s",
                self.remote_addr,
                reason,
                extra=self._log_extra,
            )
        audio = self._audio_task
        tail = audio is not None and audio is not asyncio.current_task() and not audio.done()
        for task in self._tasks:
            if task is not asyncio.current_task() and not (tail and task is audio):
                task.cancel()
        sink, self._sink = self._sink, None
        self._on_end(self)
        if sink is not None and not (tail and self._publish is not None):
            sink.on_close(reason)  # no AAC tail to wait for: closed at once
            sink = None
        self._finishing = asyncio.get_running_loop().create_task(self._finish(sink, reason, tail))

    async def _finish(self, sink: StreamSink | None, reason: str, tail: bool) -> None:
        # The Opus still queued and what the AAC encoder holds (its last ~0.1 s) go to the
        # sink before it closes: the recording keeps the publish's last words.
        audio = self._audio_task
        if tail and audio is not None:
            if sink is not None:
                self._ending_sink = sink
                self._opus.put_nowait(None)
                try:
                    await asyncio.wait_for(asyncio.shield(audio), _TAIL_TIMEOUT)
                except TimeoutError:
                    log.warning(
                        "WHIP audio: the last AAC frames did not come within %g s",
                        _TAIL_TIMEOUT,
                        extra=self._log_extra,
                    )
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise  # this task is cancelled, not the audio one
                except Exception:
                    log.exception(
                        "WHIP audio: the last AAC frames were lost", extra=self._log_extra
                    )
                self._ending_sink = None
            audio.cancel()
        if sink is not None:
            sink.on_close(reason)
        await self._release()

    async def _release(self) -> None:
        if self._pc is not None:
            try:
                await asyncio.wait_for(self._pc.close(), 5.0)
            except Exception:
                log.exception("closing a WHIP peer connection failed", extra=self._log_extra)
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)

    async def closed(self) -> None:
        """Waits until the publish is closed and the peer connection too (after ``end``)."""
        if self._finishing is not None:
            await asyncio.shield(self._finishing)
        if self._pc is not None:
            await self._pc.close()


def _codecs(kind: str, mime: str) -> list[RTCRtpCodecCapability]:
    """aiortc's codecs of ``mime`` (every H.264 profile it lists), and retransmission."""
    capabilities = RTCRtpReceiver.getCapabilities(kind)
    assert capabilities is not None
    return [c for c in capabilities.codecs if c.mimeType.lower() in (mime, f"{kind}/rtx")]


def _encode_batch(
    aac: OpusToAac, batch: list[tuple[bytes, int]], flush: bool = False
) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for data, timestamp in batch:
        out.extend(aac.push(data, timestamp))
    if flush:
        out.extend(aac.flush())  # the encoder's last frames (about 0.1 s)
    return out
