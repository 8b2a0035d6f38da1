"""The Varnish edge (deploy/edge/varnish/golive.vcl) in front of a real golive origin fed by a
real ffmpeg publisher, all on loopback.

- Concurrent identical LL-HLS requests for a part that does not exist yet (blocking playlist
  reloads, preload-hinted part GETs) are coalesced: the origin sees one request per URL,
  counted from Varnish's own log of its backend requests (``BereqURL``), and every client
  gets the same answer.
- The edge adds little delay to a part: each part is asked of the origin directly and, at the
  same moment, by several clients through the edge; p95 of (through the edge - direct) < 100 ms.
- A 404 for a part asked before it exists is not served from the cache once it exists.
- The shipped VCL compiles (``varnishd -C``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from golive.app import GoliveServer
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.varnish_server import (
    SHIPPED_VCL,
    VarnishEdge,
    compile_vcl,
    require_varnishd,
    running_varnish,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PLAYLIST = "/live/demo/source/index.m3u8"
_HINT = re.compile(
    r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(?P<uri>[^"]*?(?P<msn>\d+)\.(?P<part>\d+)\.m4s)"'
)


@dataclass
class Hint:
    """The preload hint of a media playlist: the next part, not yet made."""

    uri: str  # relative to the playlist
    msn: int
    part: int

    @property
    def part_path(self) -> str:
        return PLAYLIST.rsplit("/", 1)[0] + "/" + self.uri

    @property
    def blocking_path(self) -> str:
        return f"{PLAYLIST}?_HLS_msn={self.msn}&_HLS_part={self.part}"


def preload_hint(playlist: str) -> Hint:
    match = _HINT.search(playlist)
    assert match is not None, playlist
    return Hint(match["uri"], int(match["msn"]), int(match["part"]))


@dataclass
class LiveEdge:
    server: GoliveServer
    edge: VarnishEdge
    origin: httpx.AsyncClient
    via_edge: httpx.AsyncClient


@asynccontextmanager
async def live_edge(tmp_path: Path) -> AsyncIterator[LiveEdge]:
    """golive with a stream playing (passthrough) and Varnish in front of it."""
    require_varnishd()
    async with running_server(tmp_path / "data", channel_ladders={"demo": "passthrough"}) as server:
        publisher = await start_publisher(
            rtmp_url(server, server.demo_key or ""), seconds=40, size="320x180", gop=30, bframes=0
        )
        try:
            async with (
                running_varnish(server.http_port, tmp_path / "edge") as edge,
                http_client(server) as origin,
                httpx.AsyncClient(
                    base_url=edge.base_url,
                    timeout=20,
                    limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
                ) as via_edge,
            ):
                deadline = time.monotonic() + 20
                while True:
                    r = await origin.get(PLAYLIST)
                    if r.status_code == 200 and "#EXT-X-PART:" in r.text:
                        break
                    assert time.monotonic() < deadline, "the stream never started"
                    await asyncio.sleep(0.2)
                yield LiveEdge(server, edge, origin, via_edge)
        finally:
            publisher.kill()
            await finish(publisher, timeout=10)


async def next_hint(origin: httpx.AsyncClient) -> Hint:
    r = await origin.get(PLAYLIST)
    assert r.status_code == 200, r.text
    return preload_hint(r.text)


async def test_shipped_vcl_compiles() -> None:
    code, errors = await compile_vcl(SHIPPED_VCL)
    assert code == 0, errors


async def test_concurrent_blocking_requests_reach_the_origin_once(tmp_path: Path) -> None:
    async with live_edge(tmp_path) as live:
        hint = await next_hint(live.origin)
        before = time.monotonic()
        playlists, parts = await asyncio.gather(
            asyncio.gather(*(live.via_edge.get(hint.blocking_path) for _ in range(50))),
            asyncio.gather(*(live.via_edge.get(hint.part_path) for _ in range(50))),
        )
        held = time.monotonic() - before

        for answers in (playlists, parts):
            assert [r.status_code for r in answers] == [200] * 50
            assert len({r.content for r in answers}) == 1
            # One request fetched it; the other 49 waited for that one and were served its
            # answer (or came after it was in and hit it).
            assert sorted(r.headers["x-cache"] for r in answers) == ["HIT"] * 49 + ["MISS"]
        assert f"{hint.msn}.{hint.part}.m4s" in playlists[0].text
        assert parts[0].headers["content-type"] == "video/mp4"
        assert held < 5  # held until the part was made (a part is 0.2 s), not timed out

        urls = await live.edge.backend_urls()
        assert urls.count(hint.blocking_path) == 1
        assert urls.count(hint.part_path) == 1


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def test_the_edge_adds_under_100_ms_to_a_part(tmp_path: Path) -> None:
    clients_per_part = 10
    async with live_edge(tmp_path) as live:

        async def arrival(client: httpx.AsyncClient, path: str) -> tuple[float, bytes]:
            r = await client.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text)
            return time.monotonic(), r.content

        part_delays: list[float] = []
        playlist_delays: list[float] = []
        hint = await next_hint(live.origin)
        for _ in range(20):
            # Asked at the same moment directly and through the edge, before the part exists.
            direct_part = asyncio.create_task(arrival(live.origin, hint.part_path))
            direct_playlist = asyncio.create_task(arrival(live.origin, hint.blocking_path))
            edge_parts = [
                asyncio.create_task(arrival(live.via_edge, hint.part_path))
                for _ in range(clients_per_part)
            ]
            edge_playlists = [
                asyncio.create_task(arrival(live.via_edge, hint.blocking_path))
                for _ in range(clients_per_part)
            ]
            part_at, part = await direct_part
            playlist_at, playlist = await direct_playlist
            for at, body in await asyncio.gather(*edge_parts):
                assert body == part
                part_delays.append(at - part_at)
            for at, body in await asyncio.gather(*edge_playlists):
                assert body == playlist
                playlist_delays.append(at - playlist_at)
            hint = preload_hint(playlist.decode())

        assert len(part_delays) == 20 * clients_per_part
        assert p95(part_delays) < 0.1, sorted(part_delays)[-20:]
        assert p95(playlist_delays) < 0.1, sorted(playlist_delays)[-20:]


async def test_a_part_asked_before_it_exists_is_not_cached_as_an_error(tmp_path: Path) -> None:
    async with live_edge(tmp_path) as live:
        hint = await next_hint(live.origin)
        # Two segments ahead: not the preload hint nor the one after it, so golive answers
        # 404 at once instead of holding the request.
        ahead = Hint(f"{hint.uri.rsplit('/', 1)[0]}/{hint.msn + 2}.0.m4s", hint.msn + 2, 0)
        early = await live.via_edge.get(ahead.part_path)
        assert early.status_code == 404, early.text

        deadline = time.monotonic() + 10
        while (direct := await live.origin.get(ahead.part_path)).status_code != 200:
            assert time.monotonic() < deadline, "the part never appeared"
            await asyncio.sleep(0.05)

        later = await live.via_edge.get(ahead.part_path)
        assert later.status_code == 200
        assert later.content == direct.content
        urls = await live.edge.backend_urls()
        assert urls.count(ahead.part_path) == 2  # the 404 was not served from the cache
