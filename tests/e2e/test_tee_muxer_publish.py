"""ffmpeg's tee muxer as a publisher: it sends an empty AVC sequence header first.

Its order is: empty video header, real audio header and frames, real video header. The
empty header must be ignored (before that fix the publish was refused as a bad sequence
header) and the audio held until the video's configuration arrives (before that the
stream was packaged audio-only, with no video at all).
"""

from __future__ import annotations

import asyncio

import pytest

from golive.app import GoliveServer
from tests.hls_conformance import parse_media_playlist
from tests.support.media_check import decode
from tests.support.publisher import finish, publish_args
from tests.support.server import http_client, rtmp_url, wait_for_text

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def test_a_tee_muxer_publish_plays(server: GoliveServer) -> None:
    assert server.demo_key is not None
    args = publish_args(rtmp_url(server, server.demo_key), seconds=8, bframes=0)
    assert args[-3:-1] == ["-f", "flv"]
    # tee needs explicit maps; the video and the tone are two inputs.
    url = args[-1]
    args[-3:] = ["-map", "0:v", "-map", "1:a", "-f", "tee", f"[f=flv]{url}"]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with http_client(server) as client:
            multivariant = await wait_for_text(client, "/live/demo/index.m3u8", "#EXT-X-STREAM-INF")
            assert 'CODECS="avc1.' in multivariant and "mp4a.40.2" in multivariant
            text = await wait_for_text(client, "/live/demo/source/index.m3u8", "#EXTINF")
            playlist = parse_media_playlist(text)
            first = playlist.segments[0]
            assert first.map_uri is not None
            init = await client.get(f"/live/demo/source/{first.map_uri}")
            segment = await client.get(f"/live/demo/source/{first.uri}")
            assert init.status_code == 200 and segment.status_code == 200
            media = decode(init.content + segment.content)
            assert (media.width, media.height) == (640, 360)
            assert media.video_pts and media.audio_pts
            assert media.video_codec == "h264" and media.audio_codec == "aac"
        code, err = await finish(proc)
        assert code == 0, err
    finally:
        if proc.returncode is None:
            proc.kill()
        await finish(proc, timeout=10)
