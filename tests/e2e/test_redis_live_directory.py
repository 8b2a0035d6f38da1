"""Which channels are live, cluster-wide, on a real redis-server: two nodes (a registry, a
bounded Redis client and a `SharedLiveStreams` each, tasks running with short intervals)
see each other's streams, stop them, lose a silent node's, and ride out an outage.

Everything crosses loopback on the tasks' own schedule, so the tests poll for the state
they expect within the bound the design promises, and never sleep a guessed amount.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from golive.app.live_streams import RegistryLiveStreams, SharedLiveStreams
from golive.cluster.redis_client import redis_client
from golive.cluster.redis_live_directory import RedisLiveDirectory
from golive.live.hub import StreamHub
from golive.live.registry import StreamRegistry
from tests.support.redis_server import RedisServer, running_redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

TTL = 1.0
INTERVAL = 0.2


@dataclass
class Node:
    name: str
    client: Redis
    registry: StreamRegistry
    shared: SharedLiveStreams
    live: RegistryLiveStreams
    kicked: list[str] = field(default_factory=list)

    def go_live(self, channel: str) -> StreamHub:
        self.registry.open_publisher(channel, disconnect=self.kicked.append)
        self.shared.changed()  # as the composition root's stream-started listener does
        hub = self.registry.hub(channel)
        assert hub is not None
        return hub

    async def close(self) -> None:
        await self.shared.close()
        self.registry.close()
        await self.client.aclose()


def make_node(url: str, name: str, interval: float) -> Node:
    client = redis_client(url)
    registry = StreamRegistry(consumer_factory=lambda hub: [], reconnect_grace=30.0)
    shared = SharedLiveStreams(
        RedisLiveDirectory(client, ttl=TTL, block=0.2),
        name,
        RegistryLiveStreams(registry),
        interval=interval,
        retry_delay=0.2,
    )
    return Node(name, client, registry, shared, RegistryLiveStreams(registry, shared=shared))


@contextlib.asynccontextmanager
async def two_nodes(
    url: str, *, start_a: bool = True, interval: float = INTERVAL
) -> AsyncIterator[tuple[Node, Node]]:
    a, b = make_node(url, "node-a", interval), make_node(url, "node-b", interval)
    if start_a:
        a.shared.start()
    b.shared.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def within(seconds: float, check: Callable[[], bool]) -> float:
    """How long ``check`` took to hold; fails after ``seconds``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def state_on(node: Node, channel: str) -> str | None:
    info = node.live.get(channel)
    return None if info is None else info.state


async def test_a_stream_crosses_nodes_and_is_stopped_from_the_other(
    redis_server: RedisServer,
) -> None:
    redis_server.flush()
    # Rounds far apart: whatever crosses in time was announced (or sent as a command).
    async with two_nodes(redis_server.url, interval=30.0) as (a, b):
        hub = a.go_live("demo")
        await within(1, lambda: state_on(b, "demo") == "live")
        info = b.live.get("demo")
        assert info is not None and info.stream_id == hub.stream_id
        assert [i.channel for i in b.live.list()] == ["demo"]

        assert b.live.stop("demo", "stopped through the API", end=False) is True
        await within(2, lambda: a.kicked == ["stopped through the API"])
        await within(2, lambda: state_on(b, "demo") == "reconnecting")
        assert b.live.stop("demo", "stopped through the API", end=True) is True
        await within(2, lambda: a.registry.hub("demo") is None)
        await within(1, lambda: b.live.get("demo") is None)
        assert b.live.list() == [] and a.kicked == ["stopped through the API"]


async def test_a_silent_nodes_streams_vanish_after_the_ttl(redis_server: RedisServer) -> None:
    redis_server.flush()
    async with two_nodes(redis_server.url, start_a=False) as (a, b):
        a.go_live("demo")
        await a.shared.tick()  # one publish, then silence: the node was killed
        await within(2, lambda: b.live.get("demo") is not None)
        took = await within(TTL + 1, lambda: b.live.get("demo") is None)
        assert took <= TTL + INTERVAL + 0.2


async def test_an_outage_drops_remote_streams_after_the_ttl_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with running_redis_server() as server:
        async with two_nodes(server.url) as (a, b):
            hub = a.go_live("demo")
            b.go_live("local")
            await within(2, lambda: state_on(b, "demo") == "live")
            caplog.set_level(logging.INFO, logger="golive.cluster")

            server.stop()
            # Still listed for a while from the last good read, then offline; a node's own
            # streams are right throughout.
            lost = time.monotonic()
            await within(TTL + 2 * INTERVAL + 1.5, lambda: b.live.get("demo") is None)
            assert time.monotonic() - lost >= TTL - INTERVAL
            assert [i.channel for i in b.live.list()] == ["local"]
            assert state_on(a, "demo") == "live" and a.live.get("local") is None
            await asyncio.sleep(3 * INTERVAL)  # more failing rounds: no more warnings
            warned = [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.WARNING and "cannot be reached" in r.getMessage()
            ]
            assert sorted(m.split(":")[0] for m in warned) == [
                "live directory of node node-a",
                "live directory of node node-b",
            ]

            server.start()  # empty, as after a restart without persistence
            await within(5, lambda: state_on(b, "demo") == "live")
            info = b.live.get("demo")
            assert info is not None and info.stream_id == hub.stream_id
            # The subscriptions are back too: a stop from B reaches A.
            await within(5, lambda: b.shared.reachable and a.shared.reachable)
            deadline = time.monotonic() + 5
            while not a.kicked:
                assert time.monotonic() < deadline, "the stop never reached node-a"
                b.live.stop("demo", "after the outage", end=False)
                await asyncio.sleep(0.3)
            assert a.kicked[0] == "after the outage"
