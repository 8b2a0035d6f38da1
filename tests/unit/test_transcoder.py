"""StreamTranscoder supervision, with a stand-in ffmpeg child that copies its input.

Restart after a death, shedding when the encoder is slower than real time, dropping instead
of blocking when the child stops reading, giving up after repeated deaths, and reaping the
child at the end of the stream. Real encoding is covered by tests/e2e/test_abr_ladder.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ClassVar

import pytest

from golive.live.health import TranscodeHealth
from golive.media.frame import Frame
from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import ChannelMedia
from golive.transcode.ladder import Rung, RungKind
from golive.transcode.transcoder import StreamTranscoder, TranscoderSettings
from tests.support.fake_ffmpeg import fake_ffmpeg_command
from tests.support.synthetic import AUDIO, VIDEO, av_frames

pytestmark = pytest.mark.timeout(60)

# A real x264 avcC (High, 320x240): the child's FLV output is demuxed, so it must parse.
VIDEO_TRACK = dataclasses.replace(
    VIDEO,
    codec="avc1.64000d",
    config=bytes.fromhex(
        "0164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000668ebe3cb22c0fdf8f800"
    ),
)

LADDER = (
    Rung("source", RungKind.SOURCE),
    Rung("180p", height=180, bitrate=400_000),
    Rung("120p", height=120, bitrate=200_000),
)


@pytest.fixture
def ffmpeg(tmp_path: Path) -> str:
    return fake_ffmpeg_command(tmp_path)


@pytest.fixture(autouse=True)
async def no_child_left() -> AsyncIterator[None]:
    """Whatever a test does, its children are killed and reaped before the loop closes."""
    yield
    for stream in list(Stream.made):
        stream.transcoder.kill()
        await stream.transcoder.aclose()
    Stream.made.clear()


class Stream:
    """A packager and its transcoder, fed synthetic frames like a hub would."""

    made: ClassVar[list[Stream]] = []

    def __init__(self, ffmpeg: str, **settings: object) -> None:
        Stream.made.append(self)
        # Supervision timing is under test here, not priority: on a busy test machine a
        # lowered child would start too slowly for the deadlines below.
        settings.setdefault("nice", 0)
        self.media = ChannelMedia("demo", "0badc0de")
        self.packager = HlsStreamPackager(
            self.media, part_target=0.2, segment_target=1.0, window_segments=30
        )
        self.health = TranscodeHealth()
        self.transcoder = StreamTranscoder(
            LADDER,
            self.packager,
            TranscoderSettings(ffmpeg=ffmpeg, **settings),  # type: ignore[arg-type]
            self.health,
        )
        for consumer in (self.packager, self.transcoder):
            consumer.on_tracks([VIDEO_TRACK, AUDIO])
        self.ms = 0
        self.slowest_call = 0.0

    async def play(
        self, seconds: float, *, speed: float = 1.0, until: Callable[[], bool] | None = None
    ) -> None:
        """Send ``seconds`` of media paced at ``speed`` times real time (or until ``until``)."""
        frames = av_frames(seconds, start_ms=self.ms)
        started = time.monotonic()
        for frame in frames:
            due = started + (frame.dts / frame_rate(frame) - self.ms / 1000) / speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if until is not None and until():
                break
            before = time.perf_counter()
            self.packager.on_frame(frame)
            self.transcoder.on_frame(frame)
            self.slowest_call = max(self.slowest_call, time.perf_counter() - before)
        self.ms += round(seconds * 1000)

    def end(self) -> None:
        self.packager.on_end()
        self.transcoder.on_end()

    def playlist(self, name: str) -> str:
        snapshot = self.media.renditions[name].latest
        assert snapshot is not None, name
        return snapshot.full.decode()


def frame_rate(frame: Frame) -> int:
    return 90_000 if frame.track_id == VIDEO.id else 48_000


async def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_renditions_follow_the_source_and_the_child_is_reaped(ffmpeg: str) -> None:
    stream = Stream(ffmpeg)
    assert [r.name for r in stream.transcoder.plan.encoded] == ["180p", "120p"]
    await stream.play(4, speed=4)
    pid = stream.transcoder.child_pid
    assert pid is not None
    await wait_for(lambda: stream.media.multivariant is not None)
    stream.end()
    await stream.transcoder.aclose()
    for name in ("180p", "120p"):
        text = stream.playlist(name)
        assert text.endswith("#EXT-X-ENDLIST\n") and "DISCONTINUITY\n" not in text
        assert text.count("#EXTINF") == stream.playlist("source").count("#EXTINF")
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped already: not our child any more
    assert not stream.health.running and stream.health.restarts == 0
    assert stream.slowest_call < 0.05


async def test_the_child_runs_below_the_server_s_priority(ffmpeg: str) -> None:
    # Transcoding that wants more CPU than there is must not starve the server, which
    # packages the source rendition: the kernel serves the lower-priority child last.
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    for nice, expected in ((7, min(19, ours + 7)), (0, ours)):
        stream = Stream(ffmpeg, nice=nice)
        await stream.play(0.5, speed=4)
        await wait_for(lambda s=stream: s.transcoder.child_pid is not None)
        pid = stream.transcoder.child_pid
        assert pid is not None
        assert os.getpriority(os.PRIO_PROCESS, pid) == expected
        group = Path(f"/proc/{pid}/autogroup")
        if nice and Path("/proc/self/autogroup").exists():
            # The child's session is a scheduling group of its own: it must be lowered too.
            assert group.read_text().split()[-1] == str(nice)
        stream.end()
        await stream.transcoder.aclose()


_UVLOOP_SPAWN = """
import asyncio, sys, uvloop
from golive.transcode.ffmpeg_child import child_setup

async def main():
    proc = await asyncio.create_subprocess_exec(
        "cat", "/proc/self/autogroup", stdout=asyncio.subprocess.PIPE,
        start_new_session=True, preexec_fn=child_setup(7),
    )
    child = (await proc.stdout.read()).decode().split()
    await proc.wait()
    ours = open("/proc/self/autogroup").read().split()
    print(child[-1], ours[-1], child[0] != ours[0])

uvloop.run(main())
"""


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="no autogroups (not Linux)")
def test_under_uvloop_the_child_s_group_is_lowered_not_the_server_s() -> None:
    # golive runs on uvloop, which calls preexec_fn before its setsid: the autogroup write
    # then lowered the server's own group and left the encoders above it. Run in a session of
    # its own, so that a regression cannot lower the test runner's group.
    out = subprocess.run(
        ["setsid", sys.executable, "-c", _UVLOOP_SPAWN],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert out == ["7", "0", "True"]  # child's group nice, server's group nice, two groups


def test_the_default_child_priority_is_lower_than_the_server_s() -> None:
    assert TranscoderSettings(ffmpeg="ffmpeg").nice == 10


async def test_a_killed_child_is_replaced_and_renditions_go_on_after_a_discontinuity(
    ffmpeg: str,
) -> None:
    stream = Stream(ffmpeg)
    await stream.play(3, speed=3)
    first = stream.transcoder.child_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: stream.health.restarts == 1)
    await stream.play(4, speed=3)
    second = stream.transcoder.child_pid
    assert second is not None and second != first
    stream.end()
    await stream.transcoder.aclose()
    source = stream.playlist("source")
    assert "#EXT-X-DISCONTINUITY\n" not in source  # the source never noticed
    for name in ("180p", "120p"):
        text = stream.playlist(name)
        assert text.count("#EXT-X-DISCONTINUITY\n") == 1
        before, after = text.split("#EXT-X-DISCONTINUITY\n")
        assert before.count("#EXTINF") >= 2 and after.count("#EXTINF") >= 2
    assert stream.health.restarts == 1 and stream.health.failed is None


async def test_an_encoder_behind_real_time_sheds_the_most_expensive_rendition(
    ffmpeg: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_FFMPEG_DELAY", "0.05")  # 20 frames per second: too slow for 30
    stream = Stream(ffmpeg, max_lag=0.5, startup_grace=0.5)
    await stream.play(8, until=lambda: bool(stream.health.shed))
    assert stream.health.shed == ("180p",)
    assert stream.health.sheds == 1
    assert "180p" not in stream.media.renditions and "120p" in stream.media.renditions
    assert "shedding rendition 180p" in caplog.text
    stream.end()
    await stream.transcoder.aclose()


async def test_a_child_that_stops_reading_costs_frames_not_the_event_loop(
    ffmpeg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FFMPEG_STALL", "1")
    stream = Stream(ffmpeg, max_input_buffer=200_000, stop_grace=0.5)
    big = [Frame(VIDEO.id, i * 3000, i * 3000, i % 30 == 0, b"\x00" * 20_000) for i in range(150)]
    for frame in big[:3]:  # the first keyframe and the frame rate (two intervals) start the child
        stream.transcoder.on_frame(frame)
    await wait_for(lambda: stream.health.running)
    started = time.perf_counter()
    for frame in big[3:]:
        stream.transcoder.on_frame(frame)
    assert time.perf_counter() - started < 0.5
    assert stream.health.dropped_frames > 100
    stream.end()
    await stream.transcoder.aclose()  # killed after stop_grace


async def test_a_child_that_keeps_dying_is_given_up_and_the_source_goes_on(
    ffmpeg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FFMPEG_EXIT", "3")
    stream = Stream(ffmpeg, max_restarts=2)
    await stream.play(5, speed=2)
    assert stream.health.failed is not None and "died" in stream.health.failed
    assert set(stream.media.renditions) == {"source", "audio"}
    assert stream.playlist("source").count("#EXTINF") >= 3
    stream.end()
    await stream.transcoder.aclose()


async def test_a_timeline_break_in_the_source_breaks_every_rendition_at_the_same_segment(
    ffmpeg: str,
) -> None:
    stream = Stream(ffmpeg)
    await stream.play(3, speed=3)
    first = stream.transcoder.child_pid
    # The publisher reconnected: the hub signals the break, then media goes on 0.1 s later.
    stream.packager.on_discontinuity()
    stream.transcoder.on_discontinuity()
    stream.ms += 100
    await stream.play(3, speed=3)
    assert stream.transcoder.child_pid not in (None, first)  # a new child for a new timeline
    stream.end()
    await stream.transcoder.aclose()
    expected = stream.playlist("source").split("#EXT-X-DISCONTINUITY\n")
    assert len(expected) == 2
    for name in ("180p", "120p", "audio"):
        parts = stream.playlist(name).split("#EXT-X-DISCONTINUITY\n")
        assert len(parts) == 2, name
        # The same segments on either side of the break.
        assert [p.count("#EXTINF") for p in parts] == [p.count("#EXTINF") for p in expected]
    assert stream.health.restarts == 0  # a break is not a death
