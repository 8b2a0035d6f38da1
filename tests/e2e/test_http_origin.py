"""The HTTP origin facing hostile or broken requests."""

from __future__ import annotations

import asyncio

import pytest

from golive.app import GoliveServer
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


async def test_unknown_channel_and_paths_are_404(server: GoliveServer) -> None:
    async with http_client(server) as client:
        for path in [
            "/live/nobody/index.m3u8",
            "/live/nobody/source/index.m3u8",
            "/live/demo/index.m3u8.bak",
            "/live/../pyproject.toml",
            "/live/%2e%2e/%2e%2e/pyproject.toml",
            "/live/demo/source/../../../etc/passwd",
            "/live/demo/source/deadbeef/..%2f..%2fetc%2fpasswd",
            "/static/../../../pyproject.toml",
            "/static/%2e%2e/%2e%2e/app.py",
            "/static/..%2f..%2fapp.py",
            "/nobody",
            "/../etc/passwd",
        ]:
            r = await client.get(path)
            assert r.status_code == 404, (path, r.status_code)
            assert "root:" not in r.text and "[project]" not in r.text and "import" not in r.text


async def test_malformed_blocking_parameters_are_400(server: GoliveServer) -> None:
    proc = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=5)
    async with http_client(server) as client:
        for _ in range(100):
            if (await client.get("/live/demo/source/index.m3u8")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        base = "/live/demo/source/index.m3u8"
        for query in [
            "_HLS_msn=abc",
            "_HLS_msn=-1",
            "_HLS_msn=1&_HLS_part=x",
            "_HLS_part=1",
            "_HLS_skip=maybe",
            "_HLS_msn=999999999",
            "_HLS_msn=99999999999999999999999",
        ]:
            r = await client.get(f"{base}?{query}")
            assert r.status_code == 400, (query, r.status_code, r.text)
            assert r.headers["cache-control"] == "no-cache"
        ok = await client.get(base)
        assert ok.headers["access-control-allow-origin"] == "*"
        assert ok.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        assert ok.headers["cache-control"] == "public, max-age=1"
        gone = await client.get("/live/demo/source/00000000/0.m4s")
        assert gone.status_code == 404
    await finish(proc)
