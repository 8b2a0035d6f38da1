"""Two golive nodes sharing a real Redis and a real PostgreSQL on loopback.

A publisher on node A holds the channel cluster-wide: a second publisher of the same key on
node B is refused as "already live"; node B answers the channel's LL-HLS (playlists,
blocking reloads, parts) by sending the requests on to A; when A's stream ends, its lease
is given up and B takes the channel. With Redis gone, a running stream keeps being served
and a new publish is refused with a clear error."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from aiortc import RTCSessionDescription

from golive.app import GoliveServer
from tests.e2e.test_private_playback import private_demo
from tests.e2e.test_whep import SDP, Player
from tests.hls_conformance import parse_media_playlist
from tests.support.postgres_server import PostgresServer
from tests.support.publisher import finish, start_publisher
from tests.support.redis_server import RedisServer, running_redis_server
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.varnish_server import running_varnish

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

PLAYLIST = "/live/demo/source/index.m3u8"
WHEP = "/live/demo/whep"


async def playlist_when(client: httpx.AsyncClient, ready: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(PLAYLIST)
        if r.status_code == 200 and ready in r.text:
            return r.text
        assert time.monotonic() < deadline, f"{PLAYLIST}: {r.status_code} {r.text[:200]}"
        await asyncio.sleep(0.2)


async def two_nodes(
    stack: AsyncExitStack, tmp_path: Path, redis_url: str, database_url: str, **settings: object
) -> tuple[GoliveServer, GoliveServer]:
    nodes = []
    for name in ("node-a", "node-b"):
        node = await stack.enter_async_context(
            running_server(
                tmp_path / name,
                redis_url=redis_url,
                database_url=database_url,
                node_id=name,
                channel_ladders={"demo": "passthrough"},
                record=False,
                **settings,
            )
        )
        nodes.append(node)
    return nodes[0], nodes[1]


@pytest.fixture
async def cluster(
    tmp_path: Path, redis_server: RedisServer, postgres_server: PostgresServer
) -> AsyncIterator[tuple[GoliveServer, GoliveServer]]:
    redis_server.flush()
    database_url = postgres_server.url(postgres_server.create_database())
    async with AsyncExitStack() as stack:
        yield await two_nodes(
            stack,
            tmp_path,
            redis_server.url,
            database_url,
            reconnect_grace=1.0,
            # The same on every node (docs/scale-out.md): forwarded private requests need it.
            playback_token_secret="cluster-test-playback-secret",
        )


async def test_one_publisher_cluster_wide_and_any_node_serves_the_channel(
    cluster: tuple[GoliveServer, GoliveServer], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = cluster
    key = a.demo_key
    assert key is not None and b.demo_key is None  # one database: the channel exists once
    caplog.set_level(logging.INFO)
    first = await start_publisher(rtmp_url(a, key), seconds=8)
    async with http_client(a) as on_a, http_client(b) as on_b:
        text_a = await playlist_when(on_a, "#EXT-X-PART:")
        # Node B serves A's channel: the playlist, a blocking reload and a part, sent on to A.
        text_b = await playlist_when(on_b, "#EXT-X-PART:")
        assert parse_media_playlist(text_b).segments or "#EXT-X-PART:" in text_b
        latest = parse_media_playlist(text_a)
        msn = latest.segments[-1].msn + 1 if latest.segments else 0
        started = time.monotonic()
        blocked = await on_b.get(PLAYLIST, params={"_HLS_msn": str(msn), "_HLS_part": "0"})
        assert blocked.status_code == 200, blocked.text
        assert "#EXT-X-MEDIA-SEQUENCE:" in blocked.text
        assert time.monotonic() - started < 5
        hint = [line for line in blocked.text.splitlines() if "PRELOAD-HINT" in line]
        assert hint, blocked.text
        uri = hint[-1].split('URI="')[1].split('"')[0]
        part = await on_b.get(f"/live/demo/source/{uri}")
        assert part.status_code == 200 and len(part.content) > 0
        assert b.media.forwarder is not None and b.media.forwarder.forwarded >= 3

        # A second publisher of the same key, on the other node, is refused.
        second = await start_publisher(rtmp_url(b, key), seconds=2)
        code, err = await finish(second, timeout=20)
        assert code != 0
        assert "already live" in err
        assert "already live on node-a" in caplog.text
        assert first.returncode is None
    assert (await finish(first))[0] == 0

    # A's stream ends (grace 1 s) and its lease is given up: B can take the channel now.
    deadline = time.monotonic() + 15
    while await a.leases.holder("demo") is not None:
        assert time.monotonic() < deadline, "node A kept the lease after its stream ended"
        await asyncio.sleep(0.2)
    third = await start_publisher(rtmp_url(b, key), seconds=3)
    async with http_client(a) as on_a:
        await playlist_when(on_a, "#EXTINF")  # now A sends requests on to B
    assert (await finish(third))[0] == 0
    holder = await b.leases.holder("demo")
    assert holder is None or holder.holder == "node-b"


async def test_a_redis_outage_keeps_running_streams_and_refuses_new_publishes(
    tmp_path: Path, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    database_url = postgres_server.url(postgres_server.create_database())
    caplog.set_level(logging.INFO)
    with running_redis_server() as redis:
        async with AsyncExitStack() as stack:
            a, b = await two_nodes(stack, tmp_path, redis.url, database_url, reconnect_grace=1.0)
            key = a.demo_key
            assert key is not None
            running = await start_publisher(rtmp_url(a, key), seconds=14)
            async with http_client(a) as on_a:
                await playlist_when(on_a, "#EXTINF")
                redis.stop()
                # Past the lease ttl (6 s): the stream is still live and growing on A.
                before = parse_media_playlist((await on_a.get(PLAYLIST)).text).segments[-1].msn
                await asyncio.sleep(8)
                after = parse_media_playlist((await on_a.get(PLAYLIST)).text).segments[-1].msn
                assert after >= before + 3
                assert running.returncode is None
                # A new publish of the channel on B is refused: nobody can tell who is live.
                refused = await start_publisher(rtmp_url(b, key), seconds=2)
                code, err = await finish(refused, timeout=20)
                assert code != 0
                assert "Cluster state is unavailable" in err
                assert "cluster state unavailable" in caplog.text
                # Redis is back (empty): A takes its lease again and the stream goes on.
                redis.start()
                deadline = time.monotonic() + 10
                while True:
                    holder = await a.leases.holder("demo")
                    if holder is not None:
                        break
                    assert time.monotonic() < deadline, "node A never took its lease back"
                    await asyncio.sleep(0.2)
                assert holder.holder == "node-a"
            assert (await finish(running))[0] == 0


async def test_a_node_starting_up_leaves_another_nodes_live_recording_alone(
    tmp_path: Path, redis_server: RedisServer, postgres_server: PostgresServer
) -> None:
    """At start-up a node finishes the recordings a killed process left open; in a cluster
    those of a channel another node holds are live there, not abandoned."""
    redis_server.flush()
    database_url = postgres_server.url(postgres_server.create_database())
    shared = {
        "redis_url": redis_server.url,
        "database_url": database_url,
        "channel_ladders": {"demo": "passthrough"},
        # One storage for both nodes, as S3 would be.
        "recording_storage": f"file://{tmp_path / 'recordings'}",
        "reconnect_grace": 0.0,
    }
    async with running_server(tmp_path / "a", node_id="node-a", **shared) as a:  # type: ignore[arg-type]
        assert a.demo_key is not None and a.recordings is not None
        publisher = await start_publisher(rtmp_url(a, a.demo_key), seconds=6)
        async with http_client(a) as on_a:
            await playlist_when(on_a, "#EXTINF")
        (recording,) = await a.recordings.for_channel("demo")
        assert recording.status == "recording"
        async with running_server(tmp_path / "b", node_id="node-b", **shared) as b:  # type: ignore[arg-type]
            assert b.recordings is not None
            (still,) = await b.recordings.for_channel("demo")
            assert still.id == recording.id and still.status == "recording"
            assert (await finish(publisher))[0] == 0
            deadline = time.monotonic() + 30
            while (await b.recordings.for_channel("demo"))[0].status == "recording":
                assert time.monotonic() < deadline, "the recording never finished"
                await asyncio.sleep(0.2)
            (done,) = await b.recordings.for_channel("demo")
            assert done.status == "ready"
            assert done.duration == pytest.approx(6, abs=1.0)


async def test_watched_through_the_edge_and_counted_once_across_nodes(
    cluster: tuple[GoliveServer, GoliveServer], tmp_path: Path
) -> None:
    """Publish to node A; a Varnish edge in front of node B only (B sends everything on to
    A): a crowd's blocking reloads for the next part reach the cluster once. Two players
    on different nodes count on both nodes; one player seen on both counts once."""
    a, b = cluster
    assert a.demo_key is not None
    publisher = await start_publisher(rtmp_url(a, a.demo_key), seconds=40)
    async with (
        running_varnish(b.http_port, tmp_path / "edge") as edge,
        httpx.AsyncClient(base_url=edge.base_url, timeout=20) as viewer,
        http_client(a) as on_a,
        http_client(b) as on_b,
    ):
        text = await playlist_when(viewer, "#EXT-X-PART:")
        latest = parse_media_playlist(text)
        msn = latest.segments[-1].msn + 2
        url = f"{PLAYLIST}?_HLS_msn={msn}&_HLS_part=0"
        crowd = await asyncio.gather(*(viewer.get(url) for _ in range(30)))
        assert {r.status_code for r in crowd} == {200}
        assert len({r.content for r in crowd}) == 1
        assert (await edge.backend_urls()).count(url) == 1

        # Viewers: players tell themselves apart by their CMCD session id.
        def cmcd(sid: str) -> dict[str, str]:
            return {"CMCD": f'sid="{sid}"'}

        deadline = time.monotonic() + 15
        while True:
            for client, sid in ((on_a, "player-1"), (on_b, "player-2"), (on_b, "player-1")):
                assert (await client.get(PLAYLIST, params=cmcd(sid))).status_code == 200
            # A watch page behind the edge counts by its presence beacon, which B sends on
            # to A like any request for the channel.
            beacon = await viewer.post("/live/demo/presence", params=cmcd("page-behind-edge"))
            assert beacon.status_code == 204
            counts = [
                (await client.get("/web/channels/demo")).json()["viewers"]
                for client in (on_a, on_b)
            ]
            # Three: the page behind the edge, and two players: player-1, seen on both nodes,
            # counts once. The edge's collapsed requests (CMCD stripped, marked as the
            # edge's) are nobody (docs/viewers.md).
            if counts == [3, 3]:
                break
            assert time.monotonic() < deadline, counts
            await asyncio.sleep(0.5)
    publisher.terminate()
    await finish(publisher)


async def test_a_private_channel_plays_for_its_owner_through_the_node_not_serving_it(
    cluster: tuple[GoliveServer, GoliveServer],
) -> None:
    """The owner's browser session on node B watches her private channel, which node A
    packages: B checked the session, and sends the request on to A under a playback token
    (cookies never go on). A stranger on B, and a forged token, get nothing."""
    a, b = cluster
    assert a.demo_key is not None
    async with http_client(b) as owner, http_client(b) as stranger, http_client(a) as on_a:
        await private_demo(b, owner)
        # Node A re-reads which channels are private every CHANNEL_ACCESS_REFRESH seconds.
        deadline = time.monotonic() + 10
        while not a.channel_access.is_private("demo"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        # No B-frames: WebRTC plays the source as is (the ladder here is passthrough).
        publisher = await start_publisher(rtmp_url(a, a.demo_key), seconds=30, bframes=0)
        try:
            text = await playlist_when(owner, "#EXT-X-PART:")
            init = next(line for line in text.splitlines() if line.startswith("#EXT-X-MAP:"))
            init_uri = init.split('URI="', 1)[1].split('"', 1)[0]
            media = await owner.get(f"/live/demo/source/{init_uri}")
            assert media.status_code == 200 and b"ftyp" in media.content[:16]
            assert "private" in (await owner.get(PLAYLIST)).headers["cache-control"]
            assert (await stranger.get(PLAYLIST)).status_code == 404
            assert (await on_a.get(PLAYLIST)).status_code == 404  # no session at A either
            forged = f"/p/not.a-token{PLAYLIST}"
            assert (await stranger.get(forged)).status_code == 403
            assert b.media.forwarder is not None and b.media.forwarder.forwarded > 0
            # WebRTC too: the owner's offer goes on to A under a playback token.
            player = Player()
            try:
                offer = await player.offer()
                assert (await stranger.post(WHEP, content=offer, headers=SDP)).status_code == 404
                r = await owner.post(WHEP, content=offer, headers=SDP)
                assert r.status_code == 201, r.text
                assert len(a.webrtc.sessions) == 1 and len(b.webrtc.sessions) == 0
                assert (await owner.delete(r.headers["location"])).status_code == 200
                assert len(a.webrtc.sessions) == 0
            finally:
                await player.close()
        finally:
            publisher.terminate()
            await finish(publisher)


async def test_a_webrtc_viewer_of_the_node_not_serving_the_channel_plays_from_the_one_that_does(
    cluster: tuple[GoliveServer, GoliveServer],
) -> None:
    """B sends the WHEP offer on to A (the answer, and so the ICE candidates, are A's), the
    media flows from A, and the DELETE through B ends the session on A."""
    a, b = cluster
    assert a.demo_key is not None
    # No B-frames: WebRTC plays the source as is (the ladder here is passthrough).
    publisher = await start_publisher(rtmp_url(a, a.demo_key), seconds=30, bframes=0)
    player = Player()
    try:
        async with http_client(b) as on_b:
            await playlist_when(on_b, "#EXT-X-PART:")
            r = await on_b.post(WHEP, content=await player.offer(), headers=SDP)
            assert r.status_code == 201, r.text
            assert r.headers["x-golive-webrtc-source"] == "source"
            assert len(a.webrtc.sessions) == 1 and len(b.webrtc.sessions) == 0
            await player.pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
            await player.wait_for(video=30, audio=20)
            (session,) = a.webrtc.sessions.for_channel("demo")
            assert session.connected
            assert (await on_b.delete(r.headers["location"])).status_code == 200
            assert len(a.webrtc.sessions) == 0
            assert (await on_b.delete(r.headers["location"])).status_code == 404
    finally:
        await player.close()
        publisher.terminate()
        await finish(publisher)
    # Live nowhere: B answers the offer itself.
    async with http_client(b) as on_b:
        deadline = time.monotonic() + 15
        while await a.leases.holder("demo") is not None:
            assert time.monotonic() < deadline, "node A kept the lease after its stream ended"
            await asyncio.sleep(0.2)
        other = Player()
        try:
            r = await on_b.post(WHEP, content=await other.offer(), headers=SDP)
            assert r.status_code == 404, r.text
        finally:
            await other.close()
