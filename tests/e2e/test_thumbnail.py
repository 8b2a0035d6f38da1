"""The home page's thumbnail: a real JPEG of the newest keyframe, one ffmpeg run shared by
concurrent requests, 404 when the channel is offline."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import av
import pytest

from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


async def test_thumbnail_of_a_live_stream(tmp_path: Path) -> None:
    async with (
        running_server(
            tmp_path / "data", transcode_ladder=[{"name": "source", "kind": "source"}]
        ) as server,
        http_client(server) as client,
    ):
        assert (await client.get("/live/demo/thumbnail.jpg")).status_code == 404
        proc = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=8)
        deadline = time.monotonic() + 20
        while "#EXTINF" not in (await client.get("/live/demo/source/index.m3u8")).text:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        replies = await asyncio.gather(*(client.get("/live/demo/thumbnail.jpg") for _ in range(8)))
        assert all(r.status_code == 200 for r in replies)
        assert server.thumbnails.made == 1  # one ffmpeg run for eight requests
        r = replies[0]
        assert r.headers["content-type"] == "image/jpeg"
        with av.open(io.BytesIO(r.content)) as container:
            frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (480, 270)
        await finish(proc)
