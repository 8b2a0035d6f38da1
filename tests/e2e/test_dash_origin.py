"""The DASH side of the origin: the MPD, the clock, and segments sent while they are built."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from xml.etree import ElementTree

import pytest

from golive.app import GoliveServer
from tests.support.media_check import decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


async def test_mpd_clock_and_chunked_segments(server: GoliveServer) -> None:
    proc = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=6)
    async with http_client(server) as client:
        deadline = time.monotonic() + 20
        while (r := await client.get("/live/demo/manifest.mpd")).status_code != 200:
            assert time.monotonic() < deadline, r.text
            await asyncio.sleep(0.2)
        assert r.headers["content-type"].startswith("application/dash+xml")
        assert r.headers["access-control-allow-origin"] == "*"
        mpd = ElementTree.fromstring(r.content)
        assert mpd.get("type") == "dynamic"
        (utc, *_) = mpd.findall("d:UTCTiming", NS)
        clock = await client.get(utc.get("value", ""))
        served = datetime.fromisoformat(clock.text.replace("Z", "+00:00")).timestamp()
        assert abs(served - time.time()) < 1.0
        assert clock.headers["cache-control"] == "no-store"

        # Ask for the segment after the newest one: the answer starts when it does and
        # carries its parts as they are made, ending with the segment complete.
        window = server.store.get("demo").renditions["source"]  # type: ignore[union-attr]
        newest = max(window.segments)
        token = window.stream_token
        started = time.monotonic()
        async with client.stream("GET", f"/live/demo/source/{token}/{newest + 1}.m4s") as stream:
            assert stream.status_code == 200
            assert stream.headers.get("transfer-encoding") == "chunked"
            chunks = [(time.monotonic() - started, chunk) async for chunk in stream.aiter_raw()]
        body = b"".join(chunk for _, chunk in chunks)
        assert len(chunks) >= 3, "the parts did not come one by one"
        assert chunks[-1][0] - chunks[0][0] > 0.4  # spread over the segment's duration
        complete = await client.get(f"/live/demo/source/{token}/{newest + 1}.m4s")
        assert complete.status_code == 200 and complete.content == body
        assert "content-length" in complete.headers
        init = (await client.get(f"/live/demo/source/{token}/init-0.mp4")).content
        assert decode(init + body).video_pts

        # Too far ahead is refused at once.
        ahead = await client.get(f"/live/demo/source/{token}/{newest + 50}.m4s")
        assert ahead.status_code == 404
    assert (await finish(proc))[0] == 0
