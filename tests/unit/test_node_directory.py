"""RedisNodeDirectory and NodeAnnouncer on fakeredis: entries live ttl, renewed while running."""

from __future__ import annotations

import asyncio

import fakeredis

from golive.cluster.node_directory import NodeAnnouncer, RedisNodeDirectory


async def test_announced_node_is_found_and_withdrawn() -> None:
    redis = fakeredis.FakeAsyncRedis()
    directory = RedisNodeDirectory(redis, ttl=10.0)
    assert await directory.url_of("a") is None
    await directory.announce("a", "http://10.0.0.1:8080")
    assert await directory.url_of("a") == "http://10.0.0.1:8080"
    assert 9000 < await redis.pttl("golive:node:a") <= 10000
    await directory.withdraw("a")
    assert await directory.url_of("a") is None


async def test_announcer_renews_until_stopped_then_withdraws() -> None:
    redis = fakeredis.FakeAsyncRedis()
    directory = RedisNodeDirectory(redis, ttl=3.0)
    rounds = asyncio.Event()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 3:
            rounds.set()
            await asyncio.Event().wait()  # the announcer is stopped while it sleeps

    announcer = NodeAnnouncer(directory, "b", "http://b:8080", sleep=sleep)
    announcer.start()
    await asyncio.wait_for(rounds.wait(), 5)
    assert await directory.url_of("b") == "http://b:8080"
    assert sleeps[:3] == [1.0, 1.0, 1.0]
    await announcer.stop()
    assert await directory.url_of("b") is None
