"""A blocking playlist request for a part the playlist already holds is answered with the newest
playlist, not the one that first held that part: a player behind the live edge (tuning in, or
switching renditions with an older rendition report) must not walk up to the edge one round
trip per part. A request that waits for its part still gets the playlist that satisfied it,
cacheable."""

from __future__ import annotations

import asyncio
import re

import httpx

from golive.http.app import create_app
from golive.http.live_media import LiveMediaEndpoint
from golive.media.frame import Frame
from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import LiveStore
from tests.support.synthetic import AUDIO, VIDEO, av_frames

URL = "/live/demo/source/index.m3u8"


def _last_part(text: str) -> tuple[int, int]:
    parts = re.findall(r'#EXT-X-PART:[^\n]*URI="[^"]*?(\d+)\.(\d+)\.m4s"', text)
    msn, index = parts[-1]
    return int(msn), int(index)


def media_target(response: httpx.Response) -> int:
    found = re.search(r"#EXT-X-TARGETDURATION:(\d+)", response.text)
    assert found
    return int(found.group(1))


def stream_under_way() -> tuple[LiveStore, HlsStreamPackager, list[Frame]]:
    """A live stream on "demo" with about 4 s published, and the frames still to come."""
    store = LiveStore()
    media = store.open("demo", "0badc0de")
    packager = HlsStreamPackager(
        media, part_target=0.2, segment_target=1.0, window_segments=10, clock=lambda: 1e9
    )
    packager.on_tracks([VIDEO, AUDIO])
    frames = av_frames(6.0)
    cut = len(frames) * 2 // 3
    for frame in frames[:cut]:
        packager.on_frame(frame)
    return store, packager, frames[cut:]


async def _scenario() -> None:
    store, packager, rest = stream_under_way()

    async def channel_exists(name: str) -> bool:
        return name == "demo"

    app = create_app(store, channel_exists=channel_exists, media=LiveMediaEndpoint(store))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://origin") as client:
        newest = await client.get(URL)
        edge = _last_part(newest.text)
        assert edge[0] >= 3, newest.text

        behind = await client.get(URL, params={"_HLS_msn": 1, "_HLS_part": 0})
        assert behind.status_code == 200
        assert _last_part(behind.text) == edge, behind.text
        assert behind.headers["cache-control"] == "public, max-age=1"

        # The part after the edge: the request waits for it and gets the playlist that
        # first held it, cacheable for three target durations.
        next_msn, next_part = edge[0], edge[1] + 1
        waiting = asyncio.create_task(
            client.get(URL, params={"_HLS_msn": next_msn, "_HLS_part": next_part})
        )
        await asyncio.sleep(0.05)
        assert not waiting.done()
        for frame in rest:
            packager.on_frame(frame)
        answered = await asyncio.wait_for(waiting, 5)
        assert answered.status_code == 200
        assert _last_part(answered.text) > edge
        assert answered.headers["cache-control"] == f"public, max-age={3 * media_target(newest)}"


def test_blocking_request_behind_the_edge_gets_the_newest_playlist() -> None:
    asyncio.run(_scenario())
