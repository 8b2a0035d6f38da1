"""golive running inside the test's event loop, on free ports, with its own data folder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from golive.app import GoliveServer
from golive.config import Settings


@asynccontextmanager
async def running_server(data_dir: Path, **overrides: object) -> AsyncIterator[GoliveServer]:
    settings = Settings(
        host="127.0.0.1",
        rtmp_port=0,
        http_port=0,
        data_dir=data_dir,
        # SRT ingest (a fixed UDP port by default) only where a test asks for it; WebRTC
        # candidates on loopback only (tests send traffic nowhere else).
        **{"srt_port": 0, "webrtc_host_addresses": ["127.0.0.1"], **overrides},  # type: ignore[arg-type]
    )
    server = GoliveServer(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def rtmp_url(server: GoliveServer, key: str) -> str:
    return f"rtmp://127.0.0.1:{server.rtmp_port}/live/{key}"


def http_client(server: GoliveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}", timeout=20)


async def wait_for_text(client: httpx.AsyncClient, path: str, needle: str) -> str:
    """GETs ``path`` until it answers 200 with ``needle`` in its text (20 s at most)."""
    deadline = time.monotonic() + 20
    while True:
        r = await client.get(path)
        if r.status_code == 200 and needle in r.text:
            return r.text
        assert time.monotonic() < deadline, f"{path} never showed {needle!r}"
        await asyncio.sleep(0.2)
