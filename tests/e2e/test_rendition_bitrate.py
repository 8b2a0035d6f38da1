"""An encoded rendition gets the bitrate its rung asks for.

The transcoder's child reads FLV on a pipe. Told no frame rate, ffmpeg gave libx264 1000
frames a second and its rate control spent about half of every rung's bitrate (1.5 instead of
3 Mb/s at 720p, measured with bench/transcode.py): renditions looked worse than configured,
and the CPU benchmark compared golive with a plain ffmpeg doing more work. Here a real encoder
gets an incompressible source (temporal noise) through the real StreamTranscoder, so it can
spend all the bits it is allowed, and the rendition's segments are weighed.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from golive.live.health import TranscodeHealth
from golive.media.frame import Frame, Track
from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import ChannelMedia
from golive.transcode.ffmpeg_command import EncoderOptions
from golive.transcode.ladder import Rung, RungKind
from golive.transcode.transcoder import StreamTranscoder, TranscoderSettings
from tests.support.flv_file import demux_tags, ffmpeg_exe, read_flv_tags

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

BITRATE = 400_000
LADDER = (Rung("source", RungKind.SOURCE), Rung("240p", height=240, bitrate=BITRATE))
SECONDS = 8


def noisy_source(path: Path) -> Path:
    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30,noise=alls=40:allf=t+u",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-g", "30", "-bf", "0",
            "-t", str(SECONDS), "-f", "flv", str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return path


async def test_the_encoded_rendition_spends_the_rungs_bitrate(tmp_path: Path) -> None:
    items = demux_tags(read_flv_tags(noisy_source(tmp_path / "noisy.flv")))
    tracks = [i for i in items if isinstance(i, Track)]
    frames = [i for i in items if isinstance(i, Frame)]
    media = ChannelMedia("demo", "0badc0de")
    packager = HlsStreamPackager(media, part_target=0.2, segment_target=1.0, window_segments=30)
    transcoder = StreamTranscoder(
        LADDER,
        packager,
        TranscoderSettings(
            ffmpeg=ffmpeg_exe(), encoder=EncoderOptions(preset="ultrafast"), max_lag=60.0, nice=0
        ),
        TranscodeHealth(),
    )
    for consumer in (packager, transcoder):
        consumer.on_tracks(tracks)
    started = time.monotonic()
    for frame in frames:  # paced at twice real time: the encoder keeps up, nothing is dropped
        delay = started + frame.dts / 90_000 / 2 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packager.on_frame(frame)
        transcoder.on_frame(frame)
    packager.on_end()
    transcoder.on_end()
    await transcoder.aclose()

    segments = [s for s in media.renditions["240p"].segments.values() if s.complete]
    assert len(segments) >= SECONDS - 2
    steady = segments[1:]  # the first segment holds the encoder's start
    seconds = sum(s.duration for s in steady)
    kbps = sum(len(s.data) for s in steady) * 8 / seconds / 1000
    # The rung is a cap (maxrate = bitrate, one-second buffer): noise makes the encoder use
    # it. 10 % below covers the fMP4 boxes counted here and x264's rate control settling.
    assert BITRATE / 1000 * 0.9 <= kbps <= BITRATE / 1000 * 1.1, kbps
