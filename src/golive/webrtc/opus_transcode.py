"""AAC access units to Opus packets, once per stream, for every WebRTC viewer (RFC 7587).

Browsers take no AAC over WebRTC. Decoding, resampling to 48 kHz and encoding is CPU work:
``transcode`` runs in a worker thread, never on the event loop, one batch at a time (the
codec contexts are not shared between threads). Timestamps are counted in samples from
the first frame's time, so the Opus clock follows the stream's audio timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import av.audio.resampler

__all__ = ["OPUS_RATE", "OpusPacket", "OpusTranscoder"]

log = logging.getLogger("golive.webrtc")

OPUS_RATE = 48_000
_FRAME_SAMPLES = 960  # 20 ms, what browsers expect
_BITRATE = 96_000


@dataclass(frozen=True, slots=True)
class OpusPacket:
    pts: int  # in 1/48000 s
    data: bytes


class OpusTranscoder:
    """One stream's AAC (its AudioSpecificConfig given) to 48 kHz stereo Opus."""

    def __init__(self, asc: bytes) -> None:
        self.asc = asc
        self._open()

    def _open(self) -> None:
        decoder = av.CodecContext.create("aac", "r")
        decoder.extradata = self.asc
        self._decoder = decoder
        self._resampler = av.audio.resampler.AudioResampler(
            format="s16", layout="stereo", rate=OPUS_RATE, frame_size=_FRAME_SAMPLES
        )
        encoder = av.CodecContext.create("libopus", "w")
        encoder.sample_rate = OPUS_RATE
        encoder.layout = "stereo"
        encoder.format = "s16"
        encoder.bit_rate = _BITRATE
        encoder.time_base = Fraction(1, OPUS_RATE)
        self._encoder = encoder
        self._anchor: int | None = None
        self._samples = 0
        self._sent = 0

    def reset(self) -> None:
        """The timeline broke: start counting again from the next frame's time."""
        self._open()

    def transcode(self, frames: Sequence[tuple[int, bytes]], timescale: int) -> list[OpusPacket]:
        """Opus packets for AAC frames given as (decode time in ``timescale``, payload).
        A frame that does not decode is logged and skipped."""
        out: list[OpusPacket] = []
        for dts, payload in frames:
            if self._anchor is None:
                self._anchor = dts * OPUS_RATE // timescale
            try:
                decoded = self._decoder.decode(av.Packet(payload))
            except av.FFmpegError as exc:
                log.warning("AAC frame for WebRTC does not decode: %s", exc)
                continue
            for frame in decoded:
                for chunk in self._resampler.resample(frame):
                    chunk.pts = self._samples
                    self._samples += chunk.samples
                    out.extend(self._encoded(chunk))
        return out

    def _encoded(self, chunk: av.AudioFrame) -> list[OpusPacket]:
        assert self._anchor is not None
        packets = []
        # Every packet is one 20 ms frame: counted, the clock never wobbles.
        for packet in self._encoder.encode(chunk):
            packets.append(OpusPacket(self._anchor + self._sent * _FRAME_SAMPLES, bytes(packet)))
            self._sent += 1
        return packets
