"""Viewer counts over two nodes sharing one fake Redis through RedisViewerPresence.

Each "node" is a `ViewerSessions` with its own monotonic clock; both share one wall clock
(the scale the Redis scores are on). Flushes are called by hand, so the order of the nodes'
rounds is the test's. The flush task on a real event loop and a real server:
tests/e2e/test_redis_viewer_presence.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import fakeredis
import pytest

from golive.cluster.redis_viewer_presence import (
    PEAK_MEMBER,
    RedisViewerPresence,
    peak_key,
    sessions_key,
)
from golive.store.viewer_presence import PresenceUnavailable, StreamPresence
from golive.store.viewer_sessions import ViewerSessions

EXPIRY = 30.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Cluster:
    wall: Clock
    clocks: list[Clock]
    nodes: list[ViewerSessions]

    def advance(self, seconds: float) -> None:
        self.wall.now += seconds
        for clock in self.clocks:
            clock.now += seconds

    async def flush(self, *order: int) -> None:
        for index in order:
            await self.nodes[index].flush()


async def _never(seconds: float) -> None:
    await asyncio.Event().wait()


def _node(
    redis: fakeredis.FakeAsyncRedis, wall: Clock, clock: Clock, max_sessions: int = 100
) -> ViewerSessions:
    # The flush task waits forever before its first round: these tests run each round.
    node = ViewerSessions(
        expiry=EXPIRY,
        max_sessions=max_sessions,
        clock=clock,
        wall_clock=wall,
        shared_ttl=5.0,
        sleep=_never,
    )
    node.share(RedisViewerPresence(redis))
    return node


@pytest.fixture
async def cluster(redis: fakeredis.FakeAsyncRedis) -> AsyncIterator[Cluster]:
    wall = Clock(1_800_000_000.0)
    # Monotonic clocks of different machines have nothing in common.
    clocks = [Clock(500.0), Clock(9_000.0)]
    cluster = Cluster(wall, clocks, [_node(redis, wall, clock) for clock in clocks])
    yield cluster
    for node in cluster.nodes:
        await node.stop_sharing()


def test_keys_are_per_channel_stream() -> None:
    assert sessions_key("news", "t1") == "golive:viewers:news:t1"
    assert peak_key("news", "t1") == "golive:viewers-peak:news:t1"


async def test_a_player_seen_on_both_nodes_counts_once(cluster: Cluster) -> None:
    a, b = cluster.nodes
    a.seen("news", "t1", "c:player")
    b.seen("news", "t1", "c:player")
    await cluster.flush(0, 1)
    assert a.count("news") == 1 and b.count("news") == 1


async def test_players_on_different_nodes_add_up(
    cluster: Cluster, redis: fakeredis.FakeAsyncRedis
) -> None:
    a, b = cluster.nodes
    a.seen("news", "t1", "c:x")
    a.seen("news", "t1", "c:y")
    b.seen("news", "t1", "c:z")
    await cluster.flush(0, 1)
    assert b.count("news") == 3
    assert a.count("news") == 2  # a's figure is from before b's round
    await cluster.flush(0)
    assert a.count("news") == 3
    members = await redis.zrange(sessions_key("news", "t1"), 0, -1)
    assert sorted(members) == [b"c:x", b"c:y", b"c:z"]


async def test_scores_are_wall_clock_and_a_later_sighting_is_kept(
    cluster: Cluster, redis: fakeredis.FakeAsyncRedis
) -> None:
    a, b = cluster.nodes
    b.seen("news", "t1", "c:p")  # at wall T
    cluster.advance(10)
    a.seen("news", "t1", "c:p")  # at wall T + 10
    await cluster.flush(0, 1)  # b writes its older sighting last
    score = await redis.zscore(sessions_key("news", "t1"), "c:p")
    assert score == cluster.wall.now


async def test_sessions_leave_after_the_expiry_from_every_node(
    cluster: Cluster, redis: fakeredis.FakeAsyncRedis
) -> None:
    a, b = cluster.nodes
    a.seen("news", "t1", "c:x")
    b.seen("news", "t1", "c:y")
    await cluster.flush(0, 1)
    cluster.advance(20)
    b.seen("news", "t1", "c:y")  # y keeps playing, x stopped
    await cluster.flush(1)
    cluster.advance(10.5)  # x last seen 30.5 s ago, y 10.5 s ago
    await cluster.flush(0)
    assert a.count("news") == 1
    assert await redis.zrange(sessions_key("news", "t1"), 0, -1) == [b"c:y"]
    cluster.advance(30)
    await cluster.flush(0, 1)
    assert a.count("news") == 0 and b.count("news") == 0
    assert await redis.exists(sessions_key("news", "t1")) == 0  # an empty set is no key


async def test_keys_expire_after_twice_the_expiry(
    cluster: Cluster, redis: fakeredis.FakeAsyncRedis
) -> None:
    cluster.nodes[0].seen("news", "t1", "c:x")
    await cluster.flush(0)
    for key in (sessions_key("news", "t1"), peak_key("news", "t1")):
        assert 0 < await redis.pttl(key) <= 2 * EXPIRY * 1000


async def test_a_new_stream_counts_from_zero(
    cluster: Cluster, redis: fakeredis.FakeAsyncRedis
) -> None:
    a, b = cluster.nodes
    a.seen("news", "t1", "c:x")
    b.seen("news", "t1", "c:y")
    await cluster.flush(0, 1, 0)
    assert a.count("news") == 2 and a.peak("news") == 2
    a.seen("news", "t2", "c:x")
    assert a.count("news") == 1 and a.peak("news") == 1
    await cluster.flush(0)
    assert a.count("news") == 1 and a.peak("news") == 1
    assert await redis.zrange(sessions_key("news", "t2"), 0, -1) == [b"c:x"]


async def test_the_peak_is_shared_and_only_rises(
    cluster: Cluster, redis: fakeredis.FakeAsyncRedis
) -> None:
    a, b = cluster.nodes
    a.seen("news", "t1", "c:x")
    a.seen("news", "t1", "c:y")
    b.seen("news", "t1", "c:z")
    await cluster.flush(0, 1)
    assert await redis.zscore(peak_key("news", "t1"), PEAK_MEMBER) == 3
    cluster.advance(20)
    a.seen("news", "t1", "c:x")  # y and z stop
    cluster.advance(15)
    await cluster.flush(0, 1)
    assert a.count("news") == 1 and a.peak("news") == 3
    assert b.count("news") == 1 and b.peak("news") == 3  # b saw only z, never three locally
    assert await redis.zscore(peak_key("news", "t1"), PEAK_MEMBER) == 3


async def test_a_node_that_starts_late_learns_the_peak(
    cluster: Cluster, redis: fakeredis.FakeAsyncRedis
) -> None:
    a = cluster.nodes[0]
    for player in ("c:1", "c:2", "c:3"):
        a.seen("news", "t1", player)
    await cluster.flush(0)
    late = _node(redis, cluster.wall, Clock(0.0))
    late.seen("news", "t1", "c:1")
    await late.flush()
    assert late.count("news") == 3 and late.peak("news") == 3
    await late.stop_sharing()


async def test_redis_holds_at_most_max_sessions_per_stream_the_most_recent(
    redis: fakeredis.FakeAsyncRedis,
) -> None:
    wall = Clock(1_800_000_000.0)
    a = _node(redis, wall, Clock(0.0), max_sessions=5)
    b = _node(redis, wall, Clock(0.0), max_sessions=5)
    for i in range(5):
        a.seen("news", "t1", f"c:a{i}")
    await a.flush()
    wall.now += 1
    for i in range(5):
        b.seen("news", "t1", f"c:b{i}")
    await b.flush()
    assert b.count("news") == 5
    members = await redis.zrange(sessions_key("news", "t1"), 0, -1)
    assert sorted(members) == [f"c:b{i}".encode() for i in range(5)]
    await a.stop_sharing()
    await b.stop_sharing()


async def test_an_outage_falls_back_to_this_nodes_count_and_recovers(
    cluster: Cluster,
    fake_redis_server: fakeredis.FakeServer,
    redis: fakeredis.FakeAsyncRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = cluster.nodes
    a.seen("news", "t1", "c:x")
    b.seen("news", "t1", "c:y")
    await cluster.flush(0, 1, 0)
    assert a.count("news") == 2
    fake_redis_server.connected = False  # every command raises redis's ConnectionError
    caplog.set_level(logging.INFO, logger="golive.viewers")
    await cluster.flush(0)
    assert a.count("news") == 1  # at once, not after the figure goes stale
    cluster.advance(1)
    a.seen("news", "t1", "c:w")
    await cluster.flush(0)
    assert a.count("news") == 2 and a.peak("news") == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    # Redis comes back empty (a restart): a, which saw the outage, sends all its sessions
    # again, not only the new ones; b, which did not, sends what its players reload.
    fake_redis_server.connected = True
    await redis.flushall()
    await cluster.flush(0)
    assert a.count("news") == 2
    assert sorted(await redis.zrange(sessions_key("news", "t1"), 0, -1)) == [b"c:w", b"c:x"]
    b.seen("news", "t1", "c:y")
    await cluster.flush(1, 0)
    assert a.count("news") == 3 and b.count("news") == 3
    assert "shared across nodes again" in caplog.records[-1].getMessage()


async def test_the_store_raises_presence_unavailable_when_unreachable(
    redis: fakeredis.FakeAsyncRedis, fake_redis_server: fakeredis.FakeServer
) -> None:
    fake_redis_server.connected = False
    stream = StreamPresence("news", "t1", {"c:x": 1.0}, peak=0)
    with pytest.raises(PresenceUnavailable, match="cannot be reached"):
        await RedisViewerPresence(redis).share([stream], now=2.0, expiry=30, max_sessions=10)
