"""`golive serve` killed with SIGKILL while two channels are live and transcoding: no ffmpeg
child outlives it, and a server started again on the same data folder serves the channels
(same keys, new streams, transcoded renditions) once their publishers come back."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.publisher import finish, start_publisher
from tests.support.serve_process import (
    ServeProcess,
    ffmpeg_children,
    golive_cli,
    running,
    start_serve,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# A small encoded rung keeps two transcoders affordable on a two-core machine.
CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
reconnect_grace = 10.0
transcode_ladder = [
  {{ name = "source", kind = "source" }},
  {{ name = "180p", height = 180, bitrate = 300000 }},
]
"""
CHANNELS = ("demo", "second")


async def wait_for_playlists(server: ServeProcess, timeout: float = 40) -> None:
    """Every channel serves its source and its transcoded rendition."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server.http_base, timeout=10) as client:
        for channel in CHANNELS:
            for rendition in ("source", "180p"):
                path = f"/live/{channel}/{rendition}/index.m3u8"
                while True:
                    r = await client.get(path)
                    if r.status_code == 200 and "#EXTINF:" in r.text:
                        break
                    assert time.monotonic() < deadline, f"{path}: {r.status_code}"
                    await asyncio.sleep(0.25)


async def publish_all(
    server: ServeProcess, keys: dict[str, str]
) -> list[asyncio.subprocess.Process]:
    return [
        await start_publisher(server.rtmp_url(keys[c]), seconds=60, gop=30, bframes=0)
        for c in CHANNELS
    ]


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await finish(proc, 10)


async def test_sigkill_leaves_no_ffmpeg_and_a_restart_serves_again(tmp_path: Path) -> None:
    config = tmp_path / "golive.toml"
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    created = golive_cli(config, "channel", "add", "second")
    match = re.search(r"Stream key:\s+(\S+)", created)
    assert match, created
    stderr = tmp_path / "stderr.txt"

    server = await start_serve(config, stderr)
    assert server.demo_key is not None
    keys = {"demo": server.demo_key, "second": match[1]}
    publishers = await publish_all(server, keys)
    try:
        await wait_for_playlists(server)
        children = ffmpeg_children(server.proc.pid)
        # Two transcoders at least (thumbnail grabs may come and go besides).
        assert len(children) >= 2, children
        assert all(running(c) for c in children)

        server.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(server.proc.wait(), 10) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while survivors := [c for c in children if running(c)]:
            assert time.monotonic() < deadline, f"ffmpeg outlived the server: {survivors}"
            await asyncio.sleep(0.05)
    finally:
        if server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()
        await stop_all(publishers)

    again = await start_serve(config, stderr)
    publishers = await publish_all(again, keys)
    try:
        await wait_for_playlists(again)
    finally:
        await stop_all(publishers)
        again.proc.terminate()
        assert await asyncio.wait_for(again.proc.wait(), 30) == 0
