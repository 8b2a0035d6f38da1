"""Viewer counts over two nodes through a real redis-server: two `ViewerSessions`, each with
its own client and flush task running on the event loop (every 50 ms here), real clocks.

Cross-node figures arrive on the flush tasks' own schedule, so these tests poll for the
state they expect and never sleep a guessed amount.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from golive.cluster.redis_client import redis_client
from golive.cluster.redis_viewer_presence import RedisViewerPresence, peak_key, sessions_key
from golive.store.viewer_sessions import ViewerSessions
from tests.support.redis_server import RedisServer, running_redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

WAIT = 10.0
FLUSH_INTERVAL = 0.05


async def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
def channel() -> str:
    return f"chan-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def two_nodes(url: str, expiry: float = 30.0) -> AsyncIterator[list[ViewerSessions]]:
    clients = [redis_client(url), redis_client(url)]
    nodes = [ViewerSessions(expiry=expiry, flush_interval=FLUSH_INTERVAL) for _ in clients]
    for node, client in zip(nodes, clients, strict=True):
        node.share(RedisViewerPresence(client))
    try:
        yield nodes
    finally:
        for node, client in zip(nodes, clients, strict=True):
            await node.stop_sharing()
            await client.aclose()


@pytest.fixture
async def inspector(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def test_players_count_once_over_two_nodes(
    redis_server: RedisServer, inspector: Redis, channel: str
) -> None:
    async with two_nodes(redis_server.url) as (a, b):
        a.seen(channel, "t1", "c:x")
        a.seen(channel, "t1", "c:both")
        b.seen(channel, "t1", "c:both")  # one player whose requests reach both nodes
        b.seen(channel, "t1", "c:z")
        await eventually(lambda: a.count(channel) == 3 and b.count(channel) == 3, "both see 3")
        assert a.peak(channel) == 3 and b.peak(channel) == 3
        members = await inspector.zrange(sessions_key(channel, "t1"), 0, -1)
        assert sorted(members) == [b"c:both", b"c:x", b"c:z"]
        # A new stream on the channel counts from zero, on its own key.
        a.seen(channel, "t2", "c:x")
        await eventually(lambda: a.count(channel) == 1, "the new stream counts 1")
        await asyncio.sleep(3 * FLUSH_INTERVAL)  # a few more rounds change nothing
        assert a.count(channel) == 1 and a.peak(channel) == 1
        assert await inspector.zrange(sessions_key(channel, "t2"), 0, -1) == [b"c:x"]


async def test_ended_streams_leave_nothing_in_redis(
    redis_server: RedisServer, inspector: Redis, channel: str
) -> None:
    async with two_nodes(redis_server.url, expiry=0.5) as (a, b):
        a.seen(channel, "t1", "c:x")
        b.seen(channel, "t1", "c:y")
        await eventually(lambda: a.count(channel) == 2 and b.count(channel) == 2, "2 viewers")
        # Nobody plays any more: they leave after the expiry, and both keys go.
        await eventually(lambda: a.count(channel) == 0 and b.count(channel) == 0, "0 viewers")
        assert a.peak(channel) == 2 and b.peak(channel) == 2
        keys = (sessions_key(channel, "t1"), peak_key(channel, "t1"))
        deadline = time.monotonic() + WAIT
        while await inspector.exists(*keys):
            assert time.monotonic() < deadline, "the keys did not expire"
            await asyncio.sleep(0.05)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with running_redis_server() as server:
        yield server


async def test_an_outage_counts_each_nodes_own_and_recovers(
    own_redis: RedisServer, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="golive.viewers")
    async with two_nodes(own_redis.url) as (a, b):
        a.seen(channel, "t1", "c:x")
        b.seen(channel, "t1", "c:y")
        await eventually(lambda: a.count(channel) == 2 and b.count(channel) == 2, "2 viewers")
        await asyncio.to_thread(own_redis.stop)
        await eventually(lambda: a.count(channel) == 1 and b.count(channel) == 1, "fallback")
        await asyncio.sleep(5 * FLUSH_INTERVAL)  # failing rounds warn once per node
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2
        assert all("unreachable" in r.getMessage() for r in warnings)
        # Redis comes back empty (no persistence): each node sends all its sessions again.
        await asyncio.to_thread(own_redis.start)
        await eventually(lambda: a.count(channel) == 2 and b.count(channel) == 2, "recovered")
        assert a.peak(channel) == 2 and b.peak(channel) == 2
        recovered = [r for r in caplog.records if "shared across nodes again" in r.getMessage()]
        assert len(recovered) == 2
