"""A playlist request without _HLS_msn is answered when the next part is published (at most one
part target later), so the playlist a player starts from is fresh: hls.js dates the live edge
from when it loaded the playlist and keeps the latency it starts with. A stalled stream still
gets its current playlist after that wait."""

from __future__ import annotations

import asyncio
import time

import httpx

from golive.http.app import create_app
from golive.http.live_media import LiveMediaEndpoint
from tests.unit.test_blocking_reload_behind import URL, _last_part, stream_under_way


async def _scenario() -> None:
    store, packager, rest = stream_under_way()
    window = packager.media.renditions["source"]
    edge = window.last_position
    assert edge is not None

    async def channel_exists(name: str) -> bool:
        return name == "demo"

    app = create_app(store, channel_exists=channel_exists, media=LiveMediaEndpoint(store))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://origin") as client:
        pending = asyncio.create_task(client.get(URL))
        await asyncio.sleep(0.05)
        assert not pending.done()  # held for the next part
        for frame in rest:
            packager.on_frame(frame)
            if window.last_position != edge:
                break  # the next part is out
        fresh = await asyncio.wait_for(pending, 2)
        assert fresh.status_code == 200
        assert _last_part(fresh.text) > edge, fresh.text

        # Nothing more is published: the current playlist, after at most a part target.
        t0 = time.monotonic()
        stalled = await client.get(URL)
        waited = time.monotonic() - t0
        assert stalled.status_code == 200 and _last_part(stalled.text) == window.last_position
        assert waited < 1.0, waited  # one part target (0.2 s) and 0.1 s of slack, not more


def test_plain_playlist_request_gets_the_next_part() -> None:
    asyncio.run(_scenario())
