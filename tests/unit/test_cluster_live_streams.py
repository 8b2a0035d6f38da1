"""Which channels are live, cluster-wide: two nodes' registries sharing their streams through
the Redis live directory on one fakeredis server (a stream live on A is listed on B, gone
when A's entries expire or A ends it, a stop sent from B reaches A, a channel live on the
asking node is that node's, an outage drops remote streams after the ttl)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import fakeredis
import pytest

from golive.app.live_streams import (
    RegistryLiveStreams,
    SharedLiveDirectory,
    SharedLiveStreams,
    info_fields,
    info_from_fields,
)
from golive.cluster.redis_live_directory import RedisLiveDirectory, entries_key
from golive.http.api.services import LiveStreamInfo
from golive.live.hub import StreamHub
from golive.live.registry import StreamRegistry

TTL = 0.3  # seconds: Redis expires a silent node's entries for real, so keep it short


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Node:
    """One golive node as far as live streams go: its registry, its view of the cluster."""

    name: str
    registry: StreamRegistry
    shared: SharedLiveStreams
    live: RegistryLiveStreams
    kicked: list[str] = field(default_factory=list)  # reasons its publishers were sent away

    def go_live(self, channel: str) -> StreamHub:
        self.registry.open_publisher(channel, disconnect=self.kicked.append)
        hub = self.registry.hub(channel)
        assert hub is not None
        return hub


def make_node(
    server: fakeredis.FakeServer,
    name: str,
    *,
    clock: Callable[[], float] | None = None,
    interval: float = 30.0,
) -> Node:
    registry = StreamRegistry(consumer_factory=lambda hub: [], reconnect_grace=30.0)
    directory: SharedLiveDirectory = RedisLiveDirectory(
        fakeredis.aioredis.FakeRedis(server=server), ttl=TTL, block=0.05
    )
    shared = SharedLiveStreams(
        directory,
        name,
        RegistryLiveStreams(registry),
        interval=interval,
        retry_delay=0.05,
        clock=clock or FakeClock(),
    )
    return Node(name, registry, shared, RegistryLiveStreams(registry, shared=shared))


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
async def running(server: fakeredis.FakeServer) -> AsyncIterator[tuple[Node, Node]]:
    """Nodes A and B with their tasks running; a tick interval far longer than any test, so
    whatever B learns in time it learned from an announcement or a command."""
    a, b = make_node(server, "A"), make_node(server, "B")
    a.shared.start()
    b.shared.start()
    yield a, b
    await a.shared.close()
    await b.shared.close()
    for node in (a, b):
        node.registry.close()


async def eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


def without_uptime(info: LiveStreamInfo) -> dict[str, object]:
    fields = info_fields(info)
    del fields["health"]["uptime"]
    return fields


def test_fields_round_trip_through_json() -> None:
    info = LiveStreamInfo(
        channel="demo",
        stream_id="ab12cd34",
        state="live",
        started_at=1700000000.25,
        publishes=2,
        viewers=7,
        peak_viewers=9,
        health={"fps": 30.0, "video_codec": "avc1.64001f", "width": 1280, "bitrate_bps": None},
        dvr=True,
        dvr_from=1700000010.5,
    )
    assert info_from_fields(json.loads(json.dumps(info_fields(info)))) == info


@pytest.mark.parametrize(
    "change",
    [
        {"channel": 5},
        {"started_at": "yesterday"},
        {"viewers": True},
        {"health": ["fps"]},
        {"health": {"fps": [30]}},
        {"dvr_from": "x"},
    ],
)
def test_fields_that_are_not_a_stream_are_refused(change: dict[str, object]) -> None:
    fields = {
        "channel": "demo",
        "stream_id": "s",
        "state": "live",
        "started_at": 1.0,
        "publishes": 1,
        "viewers": None,
        "peak_viewers": None,
        "health": {},
    }
    assert info_from_fields(fields) is not None  # older nodes' fields: dvr defaults
    assert info_from_fields({**fields, **change}) is None


async def test_a_stream_live_on_a_is_listed_on_b_after_one_tick(
    server: fakeredis.FakeServer,
) -> None:
    a, b = make_node(server, "A"), make_node(server, "B")
    hub = a.go_live("demo")
    assert b.live.get("demo") is None
    await a.shared.tick()
    assert b.live.get("demo") is None  # B has not read yet
    await b.shared.tick()
    seen, there = b.live.get("demo"), a.live.get("demo")
    assert seen is not None and there is not None
    # As A published it a moment ago: only the uptime has moved on since.
    assert without_uptime(seen) == without_uptime(there)
    assert 0 <= there.health["uptime"] - seen.health["uptime"] < 1  # type: ignore[operator]
    assert seen.stream_id == hub.stream_id and seen.state == "live"
    assert [info.channel for info in b.live.list()] == ["demo"]
    assert b.registry.hub("demo") is None  # listed, not live here


async def test_a_silent_nodes_entries_expire_with_the_ttl(server: fakeredis.FakeServer) -> None:
    a, b = make_node(server, "A"), make_node(server, "B")
    a.go_live("demo")
    await a.shared.tick()
    await b.shared.tick()
    assert b.live.get("demo") is not None
    await asyncio.sleep(TTL + 0.1)  # A publishes no more (killed): Redis drops its hash
    await b.shared.tick()
    assert b.live.get("demo") is None and b.live.list() == []


async def test_an_ended_stream_is_gone_from_b_at_once(running: tuple[Node, Node]) -> None:
    a, b = running
    a.go_live("demo")
    a.shared.changed()  # what the composition root's stream-started listener does
    await eventually(lambda: b.live.get("demo") is not None, within=1.0)
    a.registry.stop("demo", "done", end=True)
    a.shared.changed()
    await eventually(lambda: b.live.get("demo") is None, within=1.0)


async def test_a_stop_sent_from_b_reaches_a(running: tuple[Node, Node]) -> None:
    a, b = running
    a.go_live("demo")
    a.shared.changed()
    await eventually(lambda: b.live.get("demo") is not None)

    assert b.live.stop("demo", "stopped through the API", end=False) is True
    await eventually(lambda: a.kicked == ["stopped through the API"])
    hub = a.registry.hub("demo")
    assert hub is not None and str(hub.state) == "reconnecting"  # in its grace on A
    await eventually(lambda: getattr(b.live.get("demo"), "state", None) == "reconnecting")
    # As on A itself: a stream in its grace has no publisher to kick, only to end.
    assert b.live.stop("demo", "again", end=False) is False

    assert b.live.stop("demo", "channel deleted", end=True) is True
    await eventually(lambda: a.registry.hub("demo") is None)
    await eventually(lambda: b.live.get("demo") is None)
    assert b.live.stop("demo", "gone", end=True) is False
    assert a.kicked == ["stopped through the API"]


async def test_a_channel_live_here_is_this_nodes(server: fakeredis.FakeServer) -> None:
    a, b = make_node(server, "A"), make_node(server, "B")
    a.go_live("demo")
    a.go_live("other")
    mine = b.go_live("demo")  # for a moment two nodes list it (the stream moved)
    await a.shared.tick()
    await b.shared.tick()
    seen = b.live.get("demo")
    assert seen is not None and seen.stream_id == mine.stream_id
    assert sorted((i.channel, i.stream_id) for i in b.live.list()) == sorted(
        [("demo", mine.stream_id), ("other", a.live.get("other").stream_id)]  # type: ignore[union-attr]
    )
    assert b.live.stop("demo", "kick", end=False) is True
    assert b.kicked == ["kick"] and a.kicked == []


async def test_an_outage_keeps_remote_streams_for_the_ttl_then_drops_them(
    server: fakeredis.FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    a, b = make_node(server, "A"), make_node(server, "B", clock=clock)
    a.go_live("demo")
    b.go_live("local")
    await a.shared.tick()
    await b.shared.tick()
    caplog.set_level(logging.INFO, logger="golive.cluster")

    server.connected = False
    await b.shared.tick()
    clock.now += TTL  # exactly the ttl since the last good read: still listed
    await b.shared.tick()
    assert b.live.get("demo") is not None
    clock.now += 0.01
    assert b.live.get("demo") is None  # remote streams read as offline
    assert [i.channel for i in b.live.list()] == ["local"]  # this node's are always right
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot be reached" in warnings[0].getMessage()

    server.connected = True
    await a.shared.tick()
    await b.shared.tick()
    assert b.live.get("demo") is not None
    assert any("reachable again" in r.getMessage() for r in caplog.records)


async def test_a_closing_node_withdraws_its_entries(server: fakeredis.FakeServer) -> None:
    a, b = make_node(server, "A"), make_node(server, "B")
    a.go_live("demo")
    await a.shared.tick()
    await a.shared.close()
    assert not await fakeredis.aioredis.FakeRedis(server=server).exists(entries_key("A"))
    await b.shared.tick()
    assert b.live.get("demo") is None


async def test_without_a_shared_directory_only_this_node_counts(
    server: fakeredis.FakeServer,
) -> None:
    a, b = make_node(server, "A"), make_node(server, "B")
    a.go_live("demo")
    await a.shared.tick()
    await b.shared.tick()
    alone = RegistryLiveStreams(b.registry)
    assert alone.get("demo") is None and alone.list() == []
    assert alone.stop("demo", "kick", end=True) is False
