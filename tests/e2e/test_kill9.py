"""`golive serve` killed with SIGKILL while two channels are live and transcoding: no ffmpeg
child outlives it, and a server started again on the same data folder serves the channels
(same keys, new streams, transcoded renditions) once their publishers come back.

And the recording of a stream killed that way: a publisher back within the grace period
continues it (one recording, a discontinuity, at most the segment in flight lost); one back
too late finds it closed as a VOD and starts a new one."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from golive.config import Settings
from golive.db.engine import Database
from golive.db.recordings import RecordingStore, RecordingSummary
from tests.hls_conformance import parse_media_playlist
from tests.support.media_check import assert_continuous, decode
from tests.support.publisher import finish, start_publisher
from tests.support.serve_process import (
    ServeProcess,
    ffmpeg_children,
    golive_cli,
    running,
    start_serve,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# A small encoded rung keeps two transcoders affordable on a two-core machine.
CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
reconnect_grace = 10.0
transcode_ladder = [
  {{ name = "source", kind = "source" }},
  {{ name = "180p", height = 180, bitrate = 300000 }},
]
"""
CHANNELS = ("demo", "second")


async def wait_for_playlists(server: ServeProcess, timeout: float = 40) -> None:
    """Every channel serves its source and its transcoded rendition."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=server.http_base, timeout=10) as client:
        for channel in CHANNELS:
            for rendition in ("source", "180p"):
                path = f"/live/{channel}/{rendition}/index.m3u8"
                while True:
                    r = await client.get(path)
                    if r.status_code == 200 and "#EXTINF:" in r.text:
                        break
                    assert time.monotonic() < deadline, f"{path}: {r.status_code}"
                    await asyncio.sleep(0.25)


async def publish_all(
    server: ServeProcess, keys: dict[str, str]
) -> list[asyncio.subprocess.Process]:
    return [
        await start_publisher(server.rtmp_url(keys[c]), seconds=60, gop=30, bframes=0)
        for c in CHANNELS
    ]


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await finish(proc, 10)


async def test_sigkill_leaves_no_ffmpeg_and_a_restart_serves_again(tmp_path: Path) -> None:
    config = tmp_path / "golive.toml"
    config.write_text(CONFIG.format(data=tmp_path / "data"))
    created = golive_cli(config, "channel", "add", "second")
    match = re.search(r"Stream key:\s+(\S+)", created)
    assert match, created
    stderr = tmp_path / "stderr.txt"

    server = await start_serve(config, stderr)
    assert server.demo_key is not None
    keys = {"demo": server.demo_key, "second": match[1]}
    publishers = await publish_all(server, keys)
    try:
        await wait_for_playlists(server)
        children = ffmpeg_children(server.proc.pid)
        # Two transcoders at least (thumbnail grabs may come and go besides).
        assert len(children) >= 2, children
        assert all(running(c) for c in children)

        server.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(server.proc.wait(), 10) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while survivors := [c for c in children if running(c)]:
            assert time.monotonic() < deadline, f"ffmpeg outlived the server: {survivors}"
            await asyncio.sleep(0.05)
    finally:
        if server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()
        await stop_all(publishers)

    again = await start_serve(config, stderr)
    publishers = await publish_all(again, keys)
    try:
        await wait_for_playlists(again)
    finally:
        await stop_all(publishers)
        again.proc.terminate()
        assert await asyncio.wait_for(again.proc.wait(), 30) == 0


# -- the recording across a kill -9 ---------------------------------------------------------

RECORDING_CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
reconnect_grace = {grace}
channel_ladders = {{ demo = "passthrough" }}
"""
MEDIA_SEQUENCE = re.compile(r"#EXT-X-MEDIA-SEQUENCE:(\d+)")


def stored_source_segments(data: Path) -> int:
    return sum(1 for _ in (data / "recordings").glob("*/source/*.m4s"))


async def recordings_of_demo(data: Path) -> list[RecordingSummary]:
    database = await Database.open(Settings(data_dir=data), migrate=False)
    try:
        return await RecordingStore(database.sessionmaker).for_channel("demo")
    finally:
        await database.close()


async def wait_for_log(stderr: Path, needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while needle not in stderr.read_text():
        assert time.monotonic() < deadline, f"{needle!r} not logged: {stderr.read_text()[-3000:]}"
        await asyncio.sleep(0.2)


async def publish_then_kill(config: Path, data: Path, stderr: Path) -> tuple[str, int]:
    """Publish until 5 segments are recorded, note the live playlist, kill -9 the server.

    Returns the demo stream key and how many source segments the live playlist listed as
    complete just before the kill.
    """
    server = await start_serve(config, stderr)
    assert server.demo_key is not None
    publisher = await start_publisher(server.rtmp_url(server.demo_key), seconds=60)
    try:
        deadline = time.monotonic() + 40
        while stored_source_segments(data) < 5:
            assert time.monotonic() < deadline, stderr.read_text()[-2000:]
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=server.http_base, timeout=10) as client:
            live = (await client.get("/live/demo/source/index.m3u8")).text
        server.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(server.proc.wait(), 10) == -signal.SIGKILL
    finally:
        if server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()
        publisher.kill()
        await finish(publisher, 10)
    first = MEDIA_SEQUENCE.search(live)
    assert first is not None and first[1] == "0", live  # the whole stream is in the window
    return server.demo_key, live.count("#EXTINF:")


async def vod_source(base: str, recording_id: str) -> tuple[list[bool], list[tuple[bytes, bytes]]]:
    """The VOD's source rendition over HTTP: each segment's discontinuity flag, and each
    segment's init segment and body."""
    async with httpx.AsyncClient(base_url=f"{base}/vod/{recording_id}", timeout=10) as client:
        r = await client.get("/source/index.m3u8")
        assert r.status_code == 200, r.text
        playlist = parse_media_playlist(r.text)
        assert playlist.endlist and playlist.playlist_type == "VOD"
        inits: dict[str, bytes] = {}
        bodies: list[tuple[bytes, bytes]] = []
        for seg in playlist.segments:
            assert seg.map_uri is not None
            if seg.map_uri not in inits:
                inits[seg.map_uri] = (await client.get(f"/source/{seg.map_uri}")).content
            got = await client.get(f"/source/{seg.uri}")
            assert got.status_code == 200, seg.uri
            bodies.append((inits[seg.map_uri], got.content))
    return [s.discontinuity for s in playlist.segments], bodies


async def test_kill9_then_the_publisher_back_within_grace_continues_the_recording(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "golive.toml"
    config.write_text(RECORDING_CONFIG.format(data=data, grace=12.0))
    stderr = tmp_path / "stderr.txt"
    key, listed = await publish_then_kill(config, data, stderr)
    (left,) = await recordings_of_demo(data)
    assert left.status == "recording"

    again = await start_serve(config, stderr)
    try:
        await wait_for_log(stderr, "left open by the previous run, waits", 5)
        assert (await finish(await start_publisher(again.rtmp_url(key), seconds=6)))[0] == 0
        # The stream ends a grace after its publisher: then the recording is finished.
        deadline = time.monotonic() + 40
        while (recordings := await recordings_of_demo(data))[0].status == "recording":
            assert time.monotonic() < deadline, stderr.read_text()[-3000:]
            await asyncio.sleep(0.5)
        (recording,) = recordings  # the same one, continued
        assert recording.id == left.id and recording.status == "ready"
        flags, bodies = await vod_source(again.http_base, recording.id)
    finally:
        again.proc.terminate()
        assert await asyncio.wait_for(again.proc.wait(), 30) == 0
    assert "left open by the previous run, continues" in stderr.read_text()

    # At most the segment in flight at the kill is lost: every segment the live playlist
    # listed as complete is stored, but for the last one at most.
    database = await Database.open(Settings(data_dir=data), migrate=False)
    try:
        rows = await RecordingStore(database.sessionmaker).segments(recording.id)
    finally:
        await database.close()
    source = [r for r in rows if r.rendition == "source"]
    assert [r.sequence for r in source] == list(range(len(source)))  # numbers go on
    (restart,) = [r.sequence for r in source if r.discontinuity]
    assert restart >= listed - 1, (restart, listed)
    assert flags.count(True) == 1 and flags.index(True) == restart
    # The VOD plays through: every segment decodes, and the timeline goes on after the kill.
    assert len(bodies) == len(source)
    for i, (init, body) in enumerate(bodies):
        media = decode(init + body)
        assert media.video_pts and media.audio_pts, i
    whole = decode(bodies[0][0] + b"".join(body for _, body in bodies))
    assert_continuous(whole.video_pts, 0.2, label="VOD video across the kill")
    assert recording.duration == pytest.approx(sum(r.duration for r in source), abs=0.01)


async def test_kill9_then_the_publisher_back_too_late_starts_a_new_recording(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    config = tmp_path / "golive.toml"
    config.write_text(RECORDING_CONFIG.format(data=data, grace=3.0))
    stderr = tmp_path / "stderr.txt"
    key, _ = await publish_then_kill(config, data, stderr)
    (left,) = await recordings_of_demo(data)

    again = await start_serve(config, stderr)
    try:
        # Closed as a VOD when the grace runs out (or at once if it already had).
        await wait_for_log(stderr, "left open by the previous run, closed: ready", 15)
        (closed,) = await recordings_of_demo(data)
        assert closed.id == left.id and closed.status == "ready"
        assert (await finish(await start_publisher(again.rtmp_url(key), seconds=4)))[0] == 0
        deadline = time.monotonic() + 30
        while (recordings := await recordings_of_demo(data))[0].status == "recording":
            assert time.monotonic() < deadline, stderr.read_text()[-3000:]
            await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=again.http_base, timeout=10) as client:
            r = await client.get(f"/vod/{closed.id}/source/index.m3u8")
            assert r.status_code == 200 and "#EXT-X-ENDLIST" in r.text
    finally:
        again.proc.terminate()
        assert await asyncio.wait_for(again.proc.wait(), 30) == 0
    second, first = recordings  # newest first
    assert first.id == left.id and second.id != left.id
    assert second.status == "ready" and second.duration == pytest.approx(4, abs=1.5)
    assert "continues" not in stderr.read_text()
