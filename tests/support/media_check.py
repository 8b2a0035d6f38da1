"""Decode what the origin serves with a real decoder (PyAV), never with our own parser."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass

import av


@dataclass
class DecodedMedia:
    video_pts: list[float]  # seconds, in decode order of output frames
    audio_pts: list[float]
    width: int
    height: int
    video_codec: str | None
    audio_codec: str | None
    sample_rate: int


def decode(data: bytes) -> DecodedMedia:
    """Demux and decode every packet of an fMP4 byte string (init segment + fragments)."""
    video_pts: list[float] = []
    audio_pts: list[float] = []
    width = height = sample_rate = 0
    vcodec = acodec = None
    with av.open(io.BytesIO(data), format="mp4") as container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        for stream in streams:
            if stream.type == "video":
                vcodec = stream.codec_context.name
            else:
                acodec = stream.codec_context.name
        # The empty packets at the end flush the decoders (B-frames are held back until then).
        for packet in container.demux(streams):
            for frame in packet.decode():
                t = float(frame.pts * frame.time_base) if frame.pts is not None else -1.0
                if packet.stream.type == "video":
                    video_pts.append(t)
                    width, height = frame.width, frame.height
                else:
                    audio_pts.append(t)
                    sample_rate = frame.sample_rate
    return DecodedMedia(video_pts, audio_pts, width, height, vcodec, acodec, sample_rate)


def assert_continuous(pts: list[float], frame_duration: float, *, label: str) -> None:
    """Presentation times increase with no gap larger than 1.5 frames."""
    ordered = sorted(pts)
    assert ordered, f"{label}: no frames decoded"
    for a, b in itertools.pairwise(ordered):
        gap = b - a
        assert 0 < gap < 1.5 * frame_duration, f"{label}: gap of {gap:.4f} s after {a:.3f} s"
