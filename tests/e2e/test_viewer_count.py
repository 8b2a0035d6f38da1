"""Viewers counted from real players' playlist requests, live in the API and the metrics.

Two LL-HLS followers that send CMCD session ids (as hls.js does) and one ffmpeg reading the
stream as a player (no CMCD: counted by address and User-Agent) make three viewers; when they
stop, the count drops back within the expiry and the peak stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from golive.app import GoliveServer
from tests.support.api_tokens import bearer, user_token
from tests.support.publisher import ffmpeg_exe, finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.varnish_server import running_varnish

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

EXPIRY = 3.0


async def follow(client: httpx.AsyncClient, sid: str, stop: asyncio.Event) -> None:
    """Blocking playlist reloads at the live edge, with a CMCD session id, like hls.js."""
    url = "/live/demo/source/index.m3u8"
    cmcd = f'sid="{sid}",sf=l,st=l'
    text = (await client.get(url, params={"CMCD": cmcd})).text
    while not stop.is_set():
        m = re.search(r'PRELOAD-HINT:TYPE=PART,URI="[0-9a-f]+/(\d+)\.(\d+)\.m4s"', text)
        params = {"CMCD": cmcd}
        if m:
            params |= {"_HLS_msn": m[1], "_HLS_part": m[2]}
        r = await client.get(url, params=params)
        if r.status_code == 200:
            text = r.text
        else:
            await asyncio.sleep(0.2)


async def viewers(client: httpx.AsyncClient, token: str) -> tuple[int, int]:
    r = await client.get("/api/v1/channels/demo/stream", headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    return body["viewers"], body["peak_viewers"]


async def until(predicate, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.25)


async def test_players_are_counted_once_each_and_leave(tmp_path: Path) -> None:
    async with running_server(
        tmp_path / "data",
        viewer_expiry=EXPIRY,
        transcode_ladder=[{"name": "source", "kind": "source"}],
    ) as server:
        await run_viewers(server)


async def run_viewers(server: GoliveServer) -> None:
    token = await user_token(server, "root", ["admin"], admin=True)
    proc = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=30, gop=30)
    stop = asyncio.Event()
    client = http_client(server)
    async with client:
        await until(lambda: _listed(client))
        # Polling the playlist made this client a viewer (by address and User-Agent) ...
        assert await viewers(client, token) == (1, 1)
        # ... until it stopped for longer than the expiry.
        await until(lambda: _count_is(client, token, 0), timeout=EXPIRY + 5)
        followers = [asyncio.create_task(follow(client, sid, stop)) for sid in ("p-1", "p-2")]
        player = await asyncio.create_subprocess_exec(
            ffmpeg_exe(),
            *("-hide_banner", "-loglevel", "error", "-i"),
            f"http://127.0.0.1:{server.http_port}/live/demo/index.m3u8",
            *("-t", "20", "-f", "null", "-"),
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await until(lambda: _count_is(client, token, 3))
            # The same players keep coming: still three, not more.
            await asyncio.sleep(1.5)
            assert (await viewers(client, token))[0] == 3
            metrics = (await client.get("/metrics")).text
            gauge = next(
                f for f in text_string_to_metric_families(metrics) if f.name == "golive_viewers"
            )
            assert [s.value for s in gauge.samples if s.labels["channel"] == "demo"] == [3]
        finally:
            stop.set()
            player.kill()
            await player.wait()
            for task in followers:
                with contextlib.suppress(Exception):
                    await task
        await until(lambda: _count_is(client, token, 0), timeout=EXPIRY + 5)
        assert await viewers(client, token) == (0, 3)
    proc.kill()
    await finish(proc, timeout=10)


async def _listed(client: httpx.AsyncClient) -> bool:
    r = await client.get("/live/demo/source/index.m3u8")
    return r.status_code == 200 and "#EXTINF" in r.text


async def _count_is(client: httpx.AsyncClient, token: str, n: int) -> bool:
    return (await viewers(client, token))[0] == n


async def test_behind_an_edge_players_count_by_their_presence_beacon(tmp_path: Path) -> None:
    """A Varnish edge (the shipped VCL) collapses every player's playlist requests into its
    own, which the origin does not count; each watch page's presence beacon passes through
    the edge uncached and counts its player, once, whichever way it came."""
    async with running_server(
        tmp_path / "data",
        viewer_expiry=EXPIRY,
        transcode_ladder=[{"name": "source", "kind": "source"}],
    ) as server:
        token = await user_token(server, "root", ["admin"], admin=True)
        proc = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=30, gop=30)
        async with (
            running_varnish(server.http_port, tmp_path / "edge") as edge,
            httpx.AsyncClient(base_url=edge.base_url, timeout=20) as viewer,
            http_client(server) as client,
        ):
            await until(lambda: _listed(viewer))
            # The edge fetched playlists (CMCD stripped, marked as the edge's): no viewer.
            for _ in range(8):
                assert (await viewer.get("/live/demo/source/index.m3u8")).status_code == 200
                await asyncio.sleep(0.25)
            assert await viewers(client, token) == (0, 0)
            assert (await viewer.get("/live/demo/presence")).status_code == 405
            assert (await viewer.post("/live/demo/index.m3u8")).status_code == 405
            assert (await viewer.post("/live/nobody/presence")).status_code == 404

            async def beacon(sid: str) -> None:
                r = await viewer.post("/live/demo/presence", params={"CMCD": f'sid="{sid}"'})
                assert r.status_code == 204 and r.headers["cache-control"] == "no-store"

            # Three pages behind the edge, and one of them also fetching straight from the
            # origin with the same CMCD session id (as hls.js does beside the beacon).
            for sid in ("page-1", "page-2", "page-3"):
                await beacon(sid)
            direct = await client.get(
                "/live/demo/source/index.m3u8", params={"CMCD": 'sid="page-1"'}
            )
            assert direct.status_code == 200
            await until(lambda: _count_is(client, token, 3))
            await beacon("page-1")  # again: still three
            await asyncio.sleep(1.0)
            assert await viewers(client, token) == (3, 3)
            # Pages that stop beaconing leave within the expiry.
            await until(lambda: _count_is(client, token, 0), timeout=EXPIRY + 5)
        proc.kill()
        await finish(proc, timeout=10)
