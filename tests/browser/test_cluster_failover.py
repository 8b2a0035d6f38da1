"""A node killed with a live stream, in a cluster of two `golive serve` processes sharing a
real Redis, a real PostgreSQL and one recording storage.

hls.js plays the channel on node B's watch page while node A, which the publisher reached,
packages it (B sends the requests on to A). A is killed with SIGKILL. The publisher comes
back the way OBS does (it retries): refused while A's lease lives, then accepted by B once
it expired (within 10 s of the kill). The player, never reloaded, plays again; the
recording A left open goes on at B: one recording for the whole session, finished as one
VOD with both nodes' media."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from golive.config import Settings
from golive.db.engine import Database
from golive.db.recordings import RecordingStore, RecordingSummary
from tests.support.postgres_server import PostgresServer
from tests.support.publisher import finish, start_publisher
from tests.support.redis_server import RedisServer
from tests.support.serve_process import ServeProcess, start_serve

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
redis_url = "{redis}"
database_url = "{database}"
recording_storage = "file://{storage}"
node_id = "{node}"
reconnect_grace = 15.0
public_url = "http://127.0.0.1"

[channel_ladders]
demo = "passthrough"
"""


async def start_node(
    tmp_path: Path, name: str, redis: RedisServer, database: str
) -> tuple[ServeProcess, Path]:
    config = tmp_path / f"{name}.toml"
    config.write_text(
        CONFIG.format(
            data=tmp_path / name,
            redis=redis.url,
            database=database,
            storage=tmp_path / "recordings",
            node=name,
        )
    )
    stderr = tmp_path / f"{name}.log"
    return await start_serve(config, stderr), stderr


async def publish_until_accepted(url: str, seconds: float, within: float) -> tuple[object, float]:
    """Publish as OBS reconnects: again every second while refused; returns the publisher
    and when it was accepted."""
    deadline = time.monotonic() + within
    while True:
        publisher = await start_publisher(url, seconds=seconds)
        try:
            await asyncio.wait_for(publisher.wait(), 3.0)
        except TimeoutError:
            return publisher, time.monotonic()  # still publishing: accepted
        _, err = await finish(publisher)
        assert "already live" in err or "Connection refused" in err, err
        assert time.monotonic() < deadline, "the publisher was never accepted by node B"
        await asyncio.sleep(1.0)


async def playing_after(page: object, moment: float) -> None:
    """Until the player's clock has moved 2 s past ``moment`` (seconds of media time)."""
    await page.wait_for_function(  # type: ignore[attr-defined]
        "(t) => window.golive && window.golive.stats.playing"
        " && document.querySelector('video').currentTime > t + 2",
        arg=moment,
        timeout=60_000,
    )


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
