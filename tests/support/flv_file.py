"""A tiny FLV *file* reader and ffmpeg-generated sample media for tests.

The server never reads FLV files (RTMP carries tag bodies directly), so this lives with the
tests: it splits a file into ``FlvTag(type, timestamp_ms, body)`` so that the bodies can be
fed to :class:`golive.media.flv.FlvDemuxer` exactly as RTMP messages would be.

Typical use in a test module::

    @pytest.fixture(scope="session")
    def sample_tags(tmp_path_factory):
        return read_flv_tags(sample_flv(tmp_path_factory))
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import pytest

from golive.media.flv import FlvDemuxer
from golive.media.frame import Frame, Track

TAG_AUDIO = 8
TAG_VIDEO = 9
TAG_SCRIPT = 18


@dataclass(frozen=True, slots=True)
class FlvTag:
    """One FLV tag: its type (8 audio, 9 video, 18 script), timestamp and body."""

    type: int
    timestamp_ms: int
    body: bytes


def parse_flv(data: bytes) -> list[FlvTag]:
    """Split an FLV file's bytes into tags (FLV spec v10, annex E)."""
    if len(data) < 9 or data[:3] != b"FLV":
        raise ValueError("not an FLV file")
    pos = int.from_bytes(data[5:9], "big") + 4  # header, then PreviousTagSize0
    tags: list[FlvTag] = []
    while pos + 11 <= len(data):
        tag_type = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        # 24 low bits, then the extended byte holds bits 24-31.
        timestamp = int.from_bytes(data[pos + 4 : pos + 7], "big") | (data[pos + 7] << 24)
        start = pos + 11
        end = start + size
        if end > len(data):
            raise ValueError(f"FLV tag at offset {pos} runs past the end of the file")
        tags.append(FlvTag(tag_type, timestamp, data[start:end]))
        pos = end + 4  # PreviousTagSize
    return tags


def read_flv_tags(path: Path | str) -> list[FlvTag]:
    """Read an FLV file into its tags."""
    return parse_flv(Path(path).read_bytes())


def demux_tags(tags: list[FlvTag], demuxer: FlvDemuxer | None = None) -> list[Track | Frame]:
    """Feed audio and video tags through a demuxer; script tags are skipped."""
    demuxer = demuxer or FlvDemuxer()
    out: list[Track | Frame] = []
    for tag in tags:
        if tag.type == TAG_VIDEO:
            out += demuxer.video(tag.timestamp_ms, tag.body)
        elif tag.type == TAG_AUDIO:
            out += demuxer.audio(tag.timestamp_ms, tag.body)
    return out


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg."""
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def make_flv(
    path: Path,
    *,
    seconds: float = 2.0,
    size: str = "320x240",
    rate: int = 30,
    bframes: int = 2,
    gop: int = 30,
    sample_rate: int = 44100,
    video: bool = True,
    audio: bool = True,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
    video_options: Sequence[str] = (),
) -> Path:
    """Encode a test pattern and a sine tone into an FLV file at ``path``.

    H.264 (libx264) and AAC-LC by default; ``libx265`` and ``libsvtav1`` give enhanced-RTMP
    HEVC and AV1 tags, other encoders (``libvpx-vp9``, ``libmp3lame``, ``libopus``) the
    enhanced-RTMP and legacy tags that the server must refuse. ``video_options`` go after
    the encoder's name.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if video:
        cmd += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=sample_rate={sample_rate}"]
    if video:
        cmd += ["-c:v", video_codec, "-g", str(gop), "-pix_fmt", "yuv420p"]
        if video_codec == "libx264":
            cmd += ["-bf", str(bframes)]
        cmd += video_options
    if audio:
        cmd += ["-c:a", audio_codec]
    cmd += ["-t", str(seconds), "-f", "flv", str(path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path


_cache: dict[str, Path] = {}


def sample_flv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample (2 s, 320x240@30 H.264 with 2 B-frames, GOP 30, 44.1 kHz AAC).

    Generated once per test session (per xdist worker); call it from a session fixture.
    """
    path = _cache.get("default")
    if path is None:
        path = make_flv(tmp_path_factory.mktemp("media") / "sample.flv")
        _cache["default"] = path
    return path
