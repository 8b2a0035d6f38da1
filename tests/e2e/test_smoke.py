"""The smallest end-to-end check: `golive serve` starts from the console entry point, takes
an ffmpeg publish and serves its playlist, and answers /healthz.

`make test-lowest` runs this against the lowest versions pyproject.toml allows, so a lower
bound that cannot start the server (or serve a stream) fails here.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.support.publisher import finish, start_publisher
from tests.support.serve_process import start_serve

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
reconnect_grace = 0.0
channel_ladders = {{ demo = "passthrough" }}
"""


async def test_serve_publish_and_play(tmp_path: Path) -> None:
    config = tmp_path / "golive.toml"
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    server = await start_serve(config, tmp_path / "stderr.txt")
    assert server.demo_key is not None
    publisher = await start_publisher(server.rtmp_url(server.demo_key), seconds=20)
    try:
        async with httpx.AsyncClient(base_url=server.http_base, timeout=10) as client:
            health = await client.get("/healthz")
            assert health.status_code == 200, health.text
            deadline = time.monotonic() + 20
            while (r := await client.get("/live/demo/source/index.m3u8")).status_code != 200:
                assert time.monotonic() < deadline, "the playlist never appeared"
                await asyncio.sleep(0.2)
            assert "#EXT-X-PART:" in r.text
            multivariant = await client.get("/live/demo/index.m3u8")
            assert multivariant.status_code == 200
            assert "source/index.m3u8" in multivariant.text
    finally:
        publisher.kill()
        await finish(publisher, timeout=10)
        server.proc.terminate()
        assert await asyncio.wait_for(server.proc.wait(), 20) == 0
