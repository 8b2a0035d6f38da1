"""Stopping, suspending and restoring streams, and the started/ended listeners."""

from __future__ import annotations

import asyncio

from golive.live.hub import StreamHub, StreamState
from golive.live.registry import StreamRegistry
from tests.unit.test_live_registry import RecordingConsumer


def make(grace: float = 0.1) -> tuple[StreamRegistry, list[str], list[str]]:
    started: list[str] = []
    ended: list[str] = []
    registry = StreamRegistry(
        consumer_factory=lambda hub: [RecordingConsumer()],
        reconnect_grace=grace,
        on_started=lambda hub: started.append(hub.stream_id),
        on_ended=lambda hub: ended.append(hub.stream_id),
    )
    return registry, started, ended


async def test_listeners_see_one_start_and_one_end_per_stream() -> None:
    registry, started, ended = make()
    kicked: list[str] = []
    first = registry.open_publisher("demo", disconnect=kicked.append)
    first.on_close("dropped")
    second = registry.open_publisher("demo", disconnect=kicked.append)  # within the grace
    assert second.hub is first.hub
    second.on_close("done")
    await asyncio.sleep(0.2)
    assert started == ended == [first.hub.stream_id]


async def test_stop_kicks_and_optionally_ends() -> None:
    registry, _, ended = make(grace=5)
    kicked: list[str] = []
    publisher = registry.open_publisher("demo", disconnect=kicked.append)
    assert registry.stop("demo", "moderator") is True
    assert kicked == ["moderator"]
    hub = registry.hub("demo")
    assert hub is not None and hub.state is StreamState.RECONNECTING
    assert registry.stop("demo", "again") is False  # no publisher to kick
    assert registry.stop("demo", "end it", end=True) is True
    assert registry.hub("demo") is None and ended == [publisher.hub.stream_id]
    assert registry.stop("nope", "x", end=True) is False
    # A kicked publisher's channel takes the next publisher at once.
    registry.open_publisher("demo", disconnect=kicked.append)


async def test_suspend_keeps_streams_unended_and_restore_resumes_them() -> None:
    registry, _, ended = make(grace=5)
    kicked: list[str] = []
    publisher = registry.open_publisher("demo", disconnect=kicked.append)
    hubs = registry.suspend()
    assert hubs == [publisher.hub] and kicked == ["server is restarting: reconnect"]
    assert hubs[0].state is StreamState.RECONNECTING and ended == []
    assert registry.live() == []

    # The next run: a restored hub waits for its publisher, who continues the stream.
    later, started2, ended2 = make(grace=0.1)
    hub = StreamHub("demo", hubs[0].stream_id, hubs[0].started_at)
    consumer = RecordingConsumer()
    hub.add_consumer(consumer)
    later.restore(hub, grace=0.1)
    back = later.open_publisher("demo", disconnect=kicked.append)
    assert back.hub is hub and hub.state is StreamState.LIVE and started2 == []
    back.on_close("bye")
    await asyncio.sleep(0.2)
    assert ended2 == [hub.stream_id] and consumer.kinds()[-1] == "end"


async def test_a_restored_stream_nobody_resumes_ends_after_the_grace() -> None:
    registry, _, ended = make()
    hub = StreamHub("demo", "ab12cd34", 0.0)
    registry.restore(hub, grace=0.05)
    assert registry.hub("demo") is hub
    await asyncio.sleep(0.15)
    assert registry.hub("demo") is None and ended == ["ab12cd34"]
