"""Stream lifecycle, timestamp rebasing and keyframe checks of the live layer."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import pytest

from golive.live.hub import StreamHub, StreamState
from golive.live.registry import AlreadyPublishing, StreamRegistry
from golive.media.frame import Frame, Track
from tests.support.synthetic import AUDIO, VIDEO, av_frames


class RecordingConsumer:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_tracks(self, tracks: Sequence[Track]) -> None:
        self.events.append(("tracks", list(tracks)))

    def on_frame(self, frame: Frame) -> None:
        self.events.append(("frame", frame))

    def on_discontinuity(self) -> None:
        self.events.append(("discontinuity", None))

    def on_end(self) -> None:
        self.events.append(("end", None))

    def frames(self) -> list[Frame]:
        return [e for kind, e in self.events if kind == "frame"]  # type: ignore[misc]

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events if kind != "frame"]


class BrokenConsumer(RecordingConsumer):
    def on_frame(self, frame: Frame) -> None:
        raise RuntimeError("boom")


def make_registry(
    grace: float = 0.2, **kw: object
) -> tuple[StreamRegistry, list[RecordingConsumer]]:
    made: list[RecordingConsumer] = []

    def factory(hub: StreamHub) -> list[RecordingConsumer]:
        consumer = RecordingConsumer()
        made.append(consumer)
        return [consumer]

    return StreamRegistry(consumer_factory=factory, reconnect_grace=grace, **kw), made  # type: ignore[arg-type]


def publish(sink, frames: list[Frame]) -> None:  # type: ignore[no-untyped-def]
    sink.on_track(VIDEO)
    sink.on_track(AUDIO)
    for f in frames:
        sink.on_frame(f)


async def test_stream_starts_at_zero_and_reconnect_continues_after_a_discontinuity() -> None:
    registry, consumers = make_registry(grace=5)
    kicked: list[str] = []
    first = registry.open_publisher("demo", disconnect=kicked.append)
    publish(first, av_frames(2, start_ms=50_000))
    first.on_close("client closed")
    hub = registry.hub("demo")
    assert hub is not None and hub.state is StreamState.RECONNECTING
    second = registry.open_publisher("demo", disconnect=kicked.append)
    assert registry.hub("demo") is hub and hub.state is StreamState.LIVE
    publish(second, av_frames(2))  # the encoder restarted its clock at 0
    (consumer,) = consumers
    frames = consumer.frames()
    video = [f.dts for f in frames if f.track_id == VIDEO.id]
    assert video[0] == 0  # rebased: the stream starts at media time 0
    assert all(b > a for a, b in itertools.pairwise(video))  # one monotonic timeline
    assert consumer.kinds().count("discontinuity") >= 1
    registry.close()
    assert consumer.kinds()[-1] == "end"


async def test_grace_period_expiry_ends_the_stream() -> None:
    registry, consumers = make_registry(grace=0.05)
    pub = registry.open_publisher("demo", disconnect=lambda r: None)
    publish(pub, av_frames(1))
    pub.on_close("gone")
    await asyncio.sleep(0.2)
    assert registry.hub("demo") is None
    assert consumers[0].kinds()[-1] == "end"
    # A new publish is a new stream with new consumers.
    registry.open_publisher("demo", disconnect=lambda r: None)
    assert len(consumers) == 2
    registry.close()


async def test_second_publisher_is_refused() -> None:
    registry, _ = make_registry()
    registry.open_publisher("demo", disconnect=lambda r: None)
    with pytest.raises(AlreadyPublishing):
        registry.open_publisher("demo", disconnect=lambda r: None)
    registry.open_publisher("other", disconnect=lambda r: None)  # other channels are fine
    registry.close()


async def test_timestamp_jump_starts_a_new_timeline() -> None:
    registry, consumers = make_registry()
    pub = registry.open_publisher("demo", disconnect=lambda r: None)
    frames = av_frames(2) + av_frames(2, start_ms=600_000)  # a 10-minute jump
    publish(pub, frames)
    consumer = consumers[0]
    assert consumer.kinds().count("discontinuity") == 1
    video = [f.dts for f in consumer.frames() if f.track_id == VIDEO.id]
    assert all(b > a for a, b in itertools.pairwise(video))
    assert video[-1] < 5 * 90_000  # continued after the old timeline, not 10 minutes later
    registry.close()


async def test_video_before_the_first_keyframe_is_dropped_and_a_keyframeless_publisher_is_kicked() -> (
    None
):
    registry, consumers = make_registry(keyframe_timeout=0.05)
    kicked: list[str] = []
    pub = registry.open_publisher("demo", disconnect=kicked.append)
    pub.on_track(VIDEO)
    frames = [f for f in av_frames(1, audio=False) if not f.keyframe]
    pub.on_frame(frames[0])
    await asyncio.sleep(0.1)
    pub.on_frame(frames[1])
    assert not consumers[0].frames()
    assert kicked and "no keyframe" in kicked[0]
    registry.close()


async def test_a_failing_consumer_is_dropped_and_others_go_on() -> None:
    # A non-essential consumer (a transcoder): the stream goes on without it.
    good = RecordingConsumer()
    registry = StreamRegistry(
        consumer_factory=lambda hub: [good, BrokenConsumer()], reconnect_grace=1
    )
    pub = registry.open_publisher("demo", disconnect=lambda r: None)
    publish(pub, av_frames(1))
    hub = registry.hub("demo")
    assert hub is not None and len(hub.consumers) == 1
    assert len(good.frames()) == len(av_frames(1))
    registry.close()


@pytest.mark.parametrize("fails_in", ["on_frame", "on_tracks"])
async def test_a_failing_packager_ends_the_stream_instead_of_leaving_a_ghost(
    fails_in: str,
) -> None:
    # The first consumer is the packager: without it there is nothing to play, so the
    # stream must end (not stay listed as live) and the publisher be told why.
    class BrokenPackager(RecordingConsumer):
        def on_frame(self, frame: Frame) -> None:
            if fails_in == "on_frame":
                raise ValueError("fMP4 writer cannot write this")
            super().on_frame(frame)

        def on_tracks(self, tracks: Sequence[Track]) -> None:
            if fails_in == "on_tracks":
                raise ValueError("fMP4 writer cannot write this")
            super().on_tracks(tracks)

    other = RecordingConsumer()
    ended: list[StreamHub] = []
    registry = StreamRegistry(
        consumer_factory=lambda hub: [BrokenPackager(), other],
        reconnect_grace=10,
        on_ended=ended.append,
    )
    reasons: list[str] = []
    pub = registry.open_publisher("demo", disconnect=reasons.append)
    publish(pub, av_frames(1))
    assert registry.hub("demo") is None
    assert registry.live() == [] and registry.publisher("demo") is None
    assert [h.channel for h in ended] == ["demo"] and ended[0].state is StreamState.ENDED
    assert reasons == ["internal server error: the stream cannot be packaged"]
    assert other.kinds()[-1] == "end"  # the other consumers are closed too
    kinds = other.kinds()
    assert kinds.count("end") == 1
    # The publisher may reconnect: a new stream starts.
    registry.open_publisher("demo", disconnect=reasons.append)
    assert registry.hub("demo") is not None
    registry.close()


async def test_health_reports_codec_resolution_and_keyframe_interval() -> None:
    registry, _ = make_registry()
    pub = registry.open_publisher("demo", disconnect=lambda r: None)
    publish(pub, av_frames(3, gop=60))
    hub = registry.hub("demo")
    assert hub is not None
    health = hub.health.snapshot()
    assert health.video_codec == "avc1.64001f" and health.audio_codec == "mp4a.40.2"
    assert (health.width, health.height) == (320, 240)
    assert health.keyframe_interval == pytest.approx(2.0, abs=0.01)
    assert health.frames == len(av_frames(3, gop=60))
    registry.close()
