"""The per-channel publish bitrate cap: a sustained excess disconnects, a burst does not."""

from __future__ import annotations

import pytest

from golive.live.bitrate_cap import BitrateCap
from golive.live.hub import StreamHub
from golive.live.registry import StreamRegistry
from golive.media.frame import Frame
from tests.support.synthetic import AUDIO, VIDEO


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(cap: BitrateCap, clock: FakeClock, *, bps: float, seconds: float) -> list[float]:
    """Send ``bps`` in 25 chunks a second for ``seconds``; return the rates that tripped."""
    tripped = []
    for _ in range(round(seconds * 25)):
        clock.now += 0.04
        rate = cap.add(round(bps / 8 * 0.04))
        if rate is not None:
            tripped.append(rate)
    return tripped


def test_a_publisher_under_the_cap_never_trips_it() -> None:
    clock = FakeClock()
    cap = BitrateCap(1_000_000, window=5.0, clock=clock)
    assert feed(cap, clock, bps=900_000, seconds=60) == []


def test_a_sustained_excess_trips_once_a_whole_window_is_measured() -> None:
    clock = FakeClock()
    cap = BitrateCap(100_000, window=5.0, clock=clock)
    assert feed(cap, clock, bps=1_000_000, seconds=4.9) == []
    tripped = feed(cap, clock, bps=1_000_000, seconds=0.2)
    assert tripped and tripped[0] == pytest.approx(1_000_000, rel=0.05)


def test_a_burst_shorter_than_the_window_is_tolerated() -> None:
    clock = FakeClock()
    cap = BitrateCap(1_000_000, window=5.0, clock=clock)
    assert feed(cap, clock, bps=500_000, seconds=10) == []
    # One second at three times the cap (catching up after a stall) averages out.
    assert feed(cap, clock, bps=3_000_000, seconds=1) == []
    assert feed(cap, clock, bps=500_000, seconds=20) == []
    # Memory stays bounded however long the publisher goes on.
    assert len(cap._samples) <= 7


def test_the_window_slides_an_excess_late_in_the_stream_trips() -> None:
    clock = FakeClock()
    cap = BitrateCap(1_000_000, window=5.0, clock=clock)
    assert feed(cap, clock, bps=200_000, seconds=30) == []
    tripped = feed(cap, clock, bps=2_000_000, seconds=6)
    assert tripped, "a publisher that went over the cap for a whole window was not caught"


def frame(track_id: int, nbytes: int, dts: int, keyframe: bool = True) -> Frame:
    return Frame(track_id, dts, dts, keyframe, b"\0" * nbytes)


async def test_the_registry_disconnects_the_publisher_over_its_channel_cap() -> None:
    clock = FakeClock()
    caps = {"loud": 100_000}

    def cap_for(channel: str) -> BitrateCap | None:
        limit = caps.get(channel, 0)
        return BitrateCap(limit, window=5.0, clock=clock) if limit else None

    hubs: list[StreamHub] = []

    def factory(hub: StreamHub) -> list[object]:
        hubs.append(hub)
        return []

    registry = StreamRegistry(consumer_factory=factory, bitrate_cap=cap_for)  # type: ignore[arg-type]
    kicked: dict[str, list[str]] = {"loud": [], "quiet": []}
    loud = registry.open_publisher("loud", disconnect=kicked["loud"].append)
    quiet = registry.open_publisher("quiet", disconnect=kicked["quiet"].append)
    for sink in (loud, quiet):
        sink.on_track(VIDEO)
        sink.on_track(AUDIO)
    # 1 Mb/s each, 10x the loud channel's cap; the quiet channel has none.
    for i in range(25 * 8):
        clock.now += 0.04
        for sink in (loud, quiet):
            sink.on_frame(frame(VIDEO.id, 5000, i * 3600, keyframe=i % 25 == 0))
    assert len(kicked["loud"]) == 1, kicked
    reason = kicked["loud"][0]
    assert "above this channel's cap of 0.10 Mb/s" in reason
    assert kicked["quiet"] == []
    frames_before = hubs[0].health.snapshot().frames
    loud.on_frame(frame(VIDEO.id, 5000, 999 * 3600))
    assert hubs[0].health.snapshot().frames == frames_before, "frames over the cap forwarded"
