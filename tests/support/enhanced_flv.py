"""HEVC and AV1 sample media in enhanced-RTMP FLV, encoded by the bundled ffmpeg.

ffmpeg (>= 6.1) writes HEVC and AV1 into FLV with enhanced-RTMP video tag headers, exactly the
tag bodies OBS and ffmpeg publish over RTMP; tests feed them to the demuxer as RTMP would.
Generated once per session (per xdist worker), from a session fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.flv_file import FlvTag, make_flv, read_flv_tags

ENCODERS = {
    "hevc": ("libx265", ["-preset", "ultrafast", "-x265-params", "keyint=30:log-level=error"]),
    "av1": ("libsvtav1", ["-preset", "12"]),
}

_cache: dict[str, list[FlvTag]] = {}


def enhanced_tags(tmp_path_factory: pytest.TempPathFactory, codec: str) -> list[FlvTag]:
    """The tags of 1 s of 320x240@30 ``codec`` ("hevc" or "av1") video and AAC audio."""
    tags = _cache.get(codec)
    if tags is None:
        encoder, options = ENCODERS[codec]
        path: Path = tmp_path_factory.mktemp("media") / f"{codec}.flv"
        make_flv(path, seconds=1.0, video_codec=encoder, video_options=options)
        tags = _cache[codec] = read_flv_tags(path)
    return tags
