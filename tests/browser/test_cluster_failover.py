"""A node killed with a live stream, in a cluster of two `golive serve` processes sharing a
real Redis, a real PostgreSQL and one recording storage.

hls.js plays the channel on node B's watch page while node A, which the publisher reached,
packages it (B sends the requests on to A). A is killed with SIGKILL. The publisher comes
back the way OBS does (it retries): refused while A's lease lives, then accepted by B once
it expired (within 10 s of the kill). The player, never reloaded, plays again; the
recording A left open goes on at B: one recording for the whole session, finished as one
VOD with both nodes' media. Chat goes on at B: a member whose socket died with A reconnects
there and is heard, and B's history keeps what was said on A."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from golive.config import Settings
from golive.db.engine import Database
from golive.db.recordings import RecordingStore, RecordingSummary
from tests.support.cluster_nodes import publish_until_accepted, start_node
from tests.support.postgres_server import PostgresServer
from tests.support.publisher import finish, start_publisher
from tests.support.redis_server import RedisServer
from tests.support.serve_process import ServeProcess
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


async def playing_after(page: object, moment: float) -> None:
    """Until the player's clock has moved 2 s past ``moment`` (seconds of media time)."""
    await page.wait_for_function(  # type: ignore[attr-defined]
        "(t) => window.golive && window.golive.stats.playing"
        " && document.querySelector('video').currentTime > t + 2",
        arg=moment,
        timeout=60_000,
    )


async def chat_member(node: ServeProcess, headers: dict[str, str]) -> ClientConnection:
    url = f"ws://{node.http_base.removeprefix('http://')}/api/v1/channels/demo/chat"
    return await websockets.connect(url, additional_headers=headers)


async def say(ws: ClientConnection, text: str) -> None:
    await ws.send(json.dumps({"type": "send", "text": text, "nonce": "n"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] in ("ack", "error") and frame.get("nonce") == "n":
            assert frame["type"] == "ack", frame
            return


async def received(ws: ClientConnection, text: str) -> None:
    """Reads frames until a batch carries ``text`` (10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if frame["type"] == "messages" and text in [m["text"] for m in frame["messages"]]:
            return


async def finished_recordings(tmp_path: Path, database: str) -> list[RecordingSummary]:
    """The channel's recordings, once none is being written any more (60 s at most)."""
    db = await Database.open(Settings(data_dir=tmp_path / "reader", database_url=database))
    try:
        store = RecordingStore(db.sessionmaker)
        deadline = time.monotonic() + 60
        while True:
            found = await store.for_channel("demo")
            if found and all(r.status != "recording" for r in found):
                return found
            assert time.monotonic() < deadline, found
            await asyncio.sleep(0.5)
    finally:
        await db.close()


async def test_a_killed_node_fails_over_and_the_player_recovers(
    tmp_path: Path,
    redis_server: RedisServer,
    postgres_server: PostgresServer,
    browser: object,
) -> None:
    redis_server.flush()
    database = postgres_server.url(postgres_server.create_database())
    a, _ = await start_node(tmp_path, "node-a", redis_server, database)
    b, b_log = await start_node(tmp_path, "node-b", redis_server, database)
    try:
        key = a.demo_key
        assert key is not None
        first = await start_publisher(a.rtmp_url(key), seconds=60)
        page = await browser.new_page()  # type: ignore[attr-defined]
        await page.goto(f"{b.http_base}/demo")
        await playing_after(page, 0.0)
        before = await page.evaluate("() => document.querySelector('video').currentTime")
        # Chat: carol on node A, a reader on node B; carol's message crosses over.
        async with httpx.AsyncClient(base_url=b.http_base) as web:
            session = {"cookie": f"golive_session={await sign_up(web, 'carol')}"}
        carol_a = await chat_member(a, session)
        reader_b = await chat_member(b, {})
        await say(carol_a, "before the kill")
        await received(reader_b, "before the kill")

        # The node dies outright: its parent process (its workers go with it).
        a.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await a.proc.wait()
        await finish(first, timeout=20)  # its server is gone
        second, accepted = await publish_until_accepted(b.rtmp_url(key), 40, within=30)
        assert isinstance(second, asyncio.subprocess.Process)
        # A's lease lived at most its ttl (6 s) after the kill.
        assert accepted - killed < 10.0 + 3.0, accepted - killed  # + one refused attempt
        await playing_after(page, before)
        reloads = await page.evaluate("() => performance.getEntriesByType('navigation').length")
        assert reloads == 1  # the same page all along
        # Chat goes on at B: carol (her socket to A died with it) reconnects there, and a
        # member joining B later gets the history, A's message included (from Redis).
        with contextlib.suppress(websockets.ConnectionClosed):
            await asyncio.wait_for(carol_a.recv(), 10)  # the close, or a frame before it
        carol_b = await chat_member(b, session)
        await say(carol_b, "after the kill")
        await received(reader_b, "after the kill")
        late = await chat_member(b, {})
        history = json.loads(await asyncio.wait_for(late.recv(), 10))
        while history["type"] != "history":
            history = json.loads(await asyncio.wait_for(late.recv(), 10))
        texts = [m["text"] for m in history["messages"]]
        assert texts[-2:] == ["before the kill", "after the kill"], texts
        for ws in (carol_a, reader_b, carol_b, late):
            await ws.close()

        await asyncio.sleep(8)
        # One recording, continued at B, finished as one VOD of both parts.
        second.send_signal(signal.SIGINT)
        await finish(second, timeout=20)
        recordings = await finished_recordings(tmp_path, database)
        assert len(recordings) == 1, recordings  # one recording across the failover
        (recording,) = recordings
        assert recording.status == "ready"
        # Both nodes' media: A's part (until the kill) and B's (about 8 s after the switch).
        assert recording.duration > before + 6.0, (recording.duration, before)
        assert "continues here" in b_log.read_text()
    finally:
        for node in (a, b):
            if node.proc.returncode is None:
                node.proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(node.proc.wait(), 30)
