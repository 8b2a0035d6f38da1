"""Opus packets (WebRTC's audio) -> AAC-LC access units (what HLS and the packager carry).

Decoded with FFmpeg's Opus decoder and encoded once per stream with FFmpeg's native AAC
encoder, through PyAV. CPU work: the adapter runs it on a worker thread, one call at a
time. Opus counts 48 kHz samples in its RTP timestamps (RFC 7587 4.1) whatever the coded
bandwidth, so AAC runs at 48 kHz stereo and an AAC frame's time is a sample count from the
first Opus packet.

Lost packets leave a gap in the timestamps: up to ``_MAX_FILLED`` of it is filled with
silence so the AAC samples stay where the Opus ones were; a longer gap (or a step back)
restarts the count at the new packet. Packets that repeat or overlap what was already
decoded are dropped.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import av.audio.fifo
import av.audio.resampler
from av.audio.codeccontext import AudioCodecContext
from av.audio.frame import AudioFrame

from golive.ingest.whip.rtp_timestamps import RtpTimestamps

__all__ = ["AAC_SAMPLE_RATE", "OpusToAac"]

log = logging.getLogger("golive.ingest.whip")

AAC_SAMPLE_RATE = 48_000
_CHANNELS = 2
_AAC_BITRATE = 128_000
_MAX_FILLED = AAC_SAMPLE_RATE  # one second of silence at most
_TOLERANCE = 480  # 10 ms: timestamps within this of the expected ones are on time


class OpusToAac:
    """Not thread-safe: one caller (the stream's audio worker) at a time."""

    def __init__(self, bitrate: int = _AAC_BITRATE) -> None:
        decoder = av.CodecContext.create("opus", "r")
        assert isinstance(decoder, AudioCodecContext)
        decoder.sample_rate = AAC_SAMPLE_RATE
        decoder.layout = "stereo"
        self._decoder = decoder
        encoder = av.CodecContext.create("aac", "w")
        assert isinstance(encoder, AudioCodecContext)
        encoder.sample_rate = AAC_SAMPLE_RATE
        encoder.layout = "stereo"
        encoder.format = "fltp"
        encoder.bit_rate = bitrate
        encoder.time_base = Fraction(1, AAC_SAMPLE_RATE)
        encoder.open()
        self._encoder = encoder
        self._resampler = av.audio.resampler.AudioResampler(
            format="fltp", layout="stereo", rate=AAC_SAMPLE_RATE
        )
        self._fifo = av.audio.fifo.AudioFifo()
        self._clock = RtpTimestamps()
        self._first: int | None = None  # extended RTP timestamp of sample 0
        self._next: int = 0  # sample count the next decoded sample should have
        self._queued = 0  # samples given to the encoder so far
        self.restarts = 0

    @property
    def audio_specific_config(self) -> bytes:
        """The encoder's AudioSpecificConfig (the Track's config)."""
        return bytes(self._encoder.extradata or b"")

    def push(self, opus: bytes, rtp_timestamp: int) -> list[tuple[int, bytes]]:
        """One Opus packet; returns AAC access units as (sample count, bytes)."""
        ext = self._clock.extend(rtp_timestamp)
        if self._first is None:
            self._first = ext
        at = ext - self._first
        out: list[tuple[int, bytes]] = []
        late = at - self._next
        if late < -_TOLERANCE:
            if at + _MAX_FILLED > self._next:
                return out  # a repeat or an overlap of what was decoded
            late = self._restart(at, out)
        elif late > _TOLERANCE:
            late = self._fill(late, at, out)
        for frame in self._decode(opus):
            for resampled in self._resampler.resample(frame):
                resampled.pts = None
                self._fifo.write(resampled)
                self._next += resampled.samples
        self._encode(out)
        return out

    def flush(self) -> list[tuple[int, bytes]]:
        """What the encoder still holds, at the end of the stream."""
        out: list[tuple[int, bytes]] = []
        self._collect(None, out)
        return out

    def _decode(self, opus: bytes) -> list[AudioFrame]:
        try:
            return list(self._decoder.decode(av.Packet(opus)))
        except av.FFmpegError as exc:
            log.debug("Opus packet not decodable: %s", exc)
            return []

    def _fill(self, gap: int, at: int, out: list[tuple[int, bytes]]) -> int:
        if gap > _MAX_FILLED:
            return self._restart(at, out)
        silence = AudioFrame(format="fltp", layout="stereo", samples=gap)
        silence.sample_rate = AAC_SAMPLE_RATE
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        self._fifo.write(silence)
        self._next += gap
        return 0

    def _restart(self, at: int, out: list[tuple[int, bytes]]) -> int:
        """A jump: encode what is queued, then count from the new packet's time."""
        self._encode(out, final=True)
        self.restarts += 1
        self._next = at
        self._queued = at
        return 0

    def _encode(self, out: list[tuple[int, bytes]], *, final: bool = False) -> None:
        size = self._encoder.frame_size or 1024
        while self._fifo.samples >= size or (final and self._fifo.samples):
            frame = self._fifo.read(min(size, self._fifo.samples))
            if frame is None:
                break
            if frame.samples < size:
                frame = self._padded(frame, size)
            frame.pts = self._queued
            frame.time_base = Fraction(1, AAC_SAMPLE_RATE)
            self._queued += size
            self._collect(frame, out)
        if final:
            self._fifo = av.audio.fifo.AudioFifo()

    def _padded(self, frame: AudioFrame, size: int) -> AudioFrame:
        padded = AudioFrame(format="fltp", layout="stereo", samples=size)
        padded.sample_rate = AAC_SAMPLE_RATE
        for src, dst in zip(frame.planes, padded.planes, strict=True):
            data = bytes(src)[: frame.samples * 4]
            dst.update(data + bytes(dst.buffer_size - len(data)))
        return padded

    def _collect(self, frame: AudioFrame | None, out: list[tuple[int, bytes]]) -> None:
        for packet in self._encoder.encode(frame):
            if packet.pts is not None:
                out.append((packet.pts, bytes(packet)))
