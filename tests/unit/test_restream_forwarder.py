"""StreamForwarder with stand-in ffmpeg children (shell scripts): a child that never reads
is dropped as stalled without blocking the stream; one that exits is failed with its
redacted stderr; one that takes the stream is live and stops when its destination goes."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from golive.media.frame import Frame, Track, TrackKind
from golive.restream.destination import Backoff, DestinationConfig, DestinationState
from golive.restream.forwarder import ForwarderSettings, StreamForwarder

KEY = "sk-secret-0123456789"
VIDEO = Track(1, TrackKind.VIDEO, "avc1.64001f", 90_000, b"\x01\x64\x00\x1f\xff", 640, 360)
AUDIO = Track(2, TrackKind.AUDIO, "mp4a.40.2", 48_000, b"\x11\x90", sample_rate=48_000)


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def frame(n: int, *, size: int = 1000) -> Frame:
    return Frame(1, n * 3000, n * 3000, n % 30 == 0, bytes(size))


async def wait_for(condition: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def forwarder(ffmpeg: str, **kw: object) -> StreamForwarder:
    settings = ForwarderSettings(ffmpeg, **kw)  # type: ignore[arg-type]
    fwd = StreamForwarder(settings, log_extra={"channel": "show"})
    fwd.on_tracks([VIDEO, AUDIO])
    fwd.update([DestinationConfig(7, "rtmp://127.0.0.1/app", KEY, "test")])
    return fwd


async def test_a_child_that_never_reads_is_dropped_as_stalled(tmp_path: Path) -> None:
    fwd = forwarder(
        script(tmp_path, "ffmpeg", "exec sleep 30"),
        max_buffer=256 << 10,
        backoff=Backoff(initial=5),
    )
    fwd.on_frame(frame(0))
    await wait_for(lambda: fwd.child_pids)
    pid = fwd.child_pids[7]
    slowest = 0.0
    for n in range(1, 400):
        started = time.perf_counter()
        fwd.on_frame(frame(n, size=20_000))
        slowest = max(slowest, time.perf_counter() - started)
        if fwd.statuses()[7].state is DestinationState.FAILED:
            break
        await asyncio.sleep(0)
    status = fwd.statuses()[7]
    assert (status.state, status.reason) == (DestinationState.FAILED, "destination stalled")
    assert status.retry_in is not None and 4 < status.retry_in <= 5
    assert slowest < 0.05  # on_frame queues, never waits
    assert 7 not in fwd.child_pids
    await fwd.aclose()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_child_that_exits_fails_with_its_redacted_stderr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = 'for a; do last=$a; done; echo "$last: Connection refused" >&2; exit 1'
    fwd = forwarder(script(tmp_path, "ffmpeg", body), backoff=Backoff(initial=0.2))
    n, failures, previous = 0, 0, DestinationState.IDLE
    while failures < 2:  # fails, waits out the backoff, fails again at a keyframe
        fwd.on_frame(frame(n))
        n += 1
        status = fwd.statuses()[7]
        if status.state is DestinationState.FAILED:
            assert status.reason == "rtmp://127.0.0.1/app/…: Connection refused"
            assert status.retry_in is not None
            failures += previous is not DestinationState.FAILED
        previous = status.state
        await asyncio.sleep(0.01)
        assert n < 2000
    await fwd.aclose()
    assert KEY not in caplog.text
    assert "restream 7 failed: rtmp://127.0.0.1/app/…: Connection refused" in caplog.text


async def test_a_child_that_takes_the_stream_is_live_until_removed(tmp_path: Path) -> None:
    body = "printf 'total_size=4000\\nprogress=continue\\n'; cat > \"$0.out\""
    ffmpeg = script(tmp_path, "ffmpeg", body)
    fwd = forwarder(ffmpeg)
    for n in range(5):
        fwd.on_frame(frame(n))  # starts at the keyframe
    await wait_for(lambda: fwd.statuses()[7].state is DestinationState.LIVE)
    fwd.update([])
    assert fwd.statuses() == {}
    await fwd.aclose()
    written = Path(ffmpeg + ".out").read_bytes()
    assert written.startswith(b"FLV\x01\x05")  # audio and video
    assert written.count(b"\x09\x00") >= 1 and len(written) > 5 * 1000
