"""Every live session is recorded: real publishers, both storage backends (local disk and an
S3-compatible server on loopback: moto's), the index in the database, the recording.ready
webhook, and a kill -9 in the middle of a stream."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from golive.config import Settings
from golive.db.engine import Database
from golive.db.models import RecordingSegment
from golive.db.recordings import RecordingStore, RecordingSummary
from golive.store.object_store_url import open_object_store
from tests.support.media_check import assert_continuous, decode
from tests.support.publisher import finish, start_publisher
from tests.support.serve_process import start_serve
from tests.support.server import rtmp_url, running_server
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

# The VOD's objects besides its segments: playlists and MPD, and its thumbnail.
PLAYLISTS = {
    "index.m3u8",
    "manifest.mpd",
    "source/index.m3u8",
    "audio/index.m3u8",
    "thumbnail.jpg",
}
FIRST, SECOND = 12, 8  # seconds published before and after the reconnect


async def wait_until_finished(store: RecordingStore, timeout: float = 20) -> RecordingSummary:
    deadline = time.monotonic() + timeout
    while True:
        recordings = await store.for_channel("demo")
        if recordings and recordings[0].status != "recording":
            return recordings[0]
        assert time.monotonic() < deadline, f"recording never finished: {recordings}"
        await asyncio.sleep(0.2)


def with_prefix(url: str, prefix: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rstrip('/')}/{prefix}?{query}"


@pytest.fixture(params=["local", "s3"])
def recording_storage(request: pytest.FixtureRequest) -> str:
    """The ``recording_storage`` setting: "" (local disk) or a fresh prefix of the S3 bucket."""
    if request.param == "local":
        return ""
    url: str = request.getfixturevalue("s3_server")
    return with_prefix(url, f"t-{uuid.uuid4().hex}")


async def test_a_session_with_a_reconnect_is_one_recording(
    tmp_path: Path, recording_storage: str
) -> None:
    data = tmp_path / "data"
    async with (
        WebhookReceiver() as receiver,
        running_server(
            data,
            reconnect_grace=5.0,
            channel_ladders={"demo": "passthrough"},
            webhook_url=receiver.url("/events"),
            webhook_secret="s" * 32,
            recording_storage=recording_storage,
        ) as server,
    ):
        url = rtmp_url(server, server.demo_key or "")
        first = await start_publisher(url, seconds=FIRST)
        assert (await finish(first))[0] == 0
        second = await start_publisher(url, seconds=SECOND)
        assert (await finish(second))[0] == 0
        assert server.registry.stop("demo", "test over", end=True)
        assert server.recordings is not None
        recording = await wait_until_finished(server.recordings)
        every = await server.recordings.for_channel("demo")
        rows = await server.recordings.segments(recording.id)
        await receiver.wait_for(
            lambda got: any(r.json["type"] == "recording.ready" for r in got), timeout=15
        )
        event = next(r.json for r in receiver.received if r.json["type"] == "recording.ready")

    # Read back after the server is gone, through a store of our own on the same backend.
    store = open_object_store(recording_storage, data)
    try:
        contents = {
            key: await store.get(key)
            for key in {r.storage_key for r in rows} | {r.init_key for r in rows}
        }
        stored = sorted([key async for key in store.list("")])
    finally:
        await store.close()
    # Every object belongs to the recording: the indexed segments and init segments, and the
    # VOD's playlists (test_vod.py plays them) and thumbnail.
    vod = {f"{recording.id}/{name}" for name in PLAYLISTS}
    assert stored == sorted(set(contents) | vod)
    assert all(key.startswith(f"{recording.id}/") for key in stored)

    assert [r.id for r in every] == [recording.id]  # one recording of the whole session
    assert recording.status == "ready"
    by_rendition: dict[str, list[RecordingSegment]] = {}
    for row in rows:
        by_rendition.setdefault(row.rendition, []).append(row)
    assert set(by_rendition) == {"source", "audio"}
    for name, segs in by_rendition.items():
        assert [s.sequence for s in segs] == list(range(len(segs))), name
        # The reconnect is the one new timeline; nothing was lost.
        assert [s.sequence for s in segs if s.discontinuity] != [], name
        assert len([s for s in segs if s.discontinuity]) == 1, name
        assert not any(s.gap_before for s in segs), name
        assert all(b.program_date_time >= a.program_date_time for a, b in itertools.pairwise(segs))

    source = by_rendition["source"]
    longest = max(s.duration for s in source)
    sent = FIRST + SECOND
    assert sum(s.duration for s in source) == pytest.approx(sent, abs=longest)
    assert recording.duration == pytest.approx(sent, abs=longest)
    assert recording.bytes == sum(r.byte_size for r in rows)
    assert recording.ended_at is not None and recording.ended_at > recording.started_at

    # Every stored segment decodes on its own with its init segment.
    for row in rows:
        body = contents[row.storage_key]
        assert len(body) == row.byte_size
        media = decode(contents[row.init_key] + body)
        if row.rendition == "source":
            assert media.video_pts and media.audio_pts
        else:
            assert media.audio_pts and not media.video_pts
    # And the source plays through, its timestamps continuous across the reconnect.
    whole = decode(contents[source[0].init_key] + b"".join(contents[s.storage_key] for s in source))
    assert_continuous(whole.video_pts, 0.2, label="recorded video across the reconnect")

    # On local disk the objects are files under the data directory; on S3 none are.
    files = sorted(p.relative_to(data) for p in data.glob("recordings/**/*") if p.is_file())
    if recording_storage:
        assert files == []
    else:
        on_disk = {p.relative_to(Path("recordings", recording.id)).as_posix() for p in files}
        assert on_disk == {k.removeprefix(f"{recording.id}/") for k in contents} | PLAYLISTS
        assert all(p.parts[:2] == ("recordings", recording.id) for p in files)

    assert event["channel"] == "demo"
    assert event["data"]["recording_id"] == recording.id
    assert event["data"]["duration"] == pytest.approx(recording.duration)
    assert event["data"]["playlist_url"].endswith(f"/vod/{recording.id}/index.m3u8")


CONFIG = """\
host = "127.0.0.1"
rtmp_port = 0
http_port = 0
data_dir = "{data}"
reconnect_grace = 2.0
channel_ladders = {{ demo = "passthrough" }}
"""


async def recorded_segments(data: Path) -> int:
    return sum(1 for _ in (data / "recordings").glob("*/source/*.m4s"))


async def test_kill9_mid_stream_then_restart_closes_the_recording(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "golive.toml"
    config.write_text(CONFIG.format(data=data))
    stderr = tmp_path / "stderr.txt"
    server = await start_serve(config, stderr)
    assert server.demo_key is not None
    publisher = await start_publisher(server.rtmp_url(server.demo_key), seconds=60)
    try:
        deadline = time.monotonic() + 40
        while await recorded_segments(data) < 5:
            assert time.monotonic() < deadline, stderr.read_text()[-2000:]
            await asyncio.sleep(0.2)
        server.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(server.proc.wait(), 10) == -signal.SIGKILL
    finally:
        if server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()
        publisher.kill()
        await finish(publisher, 10)

    settings = Settings(data_dir=data)
    database = await Database.open(settings, migrate=False)
    try:
        store = RecordingStore(database.sessionmaker)
        (left,) = await store.for_channel("demo")
        assert left.status == "recording" and left.ended_at is None
    finally:
        await database.close()

    # It closes the recording while starting if its last segment ended more than the grace
    # (2 s) ago, else when the grace runs out with no publisher back (test_kill9.py has the
    # publisher coming back).
    again = await start_serve(config, stderr)
    deadline = time.monotonic() + 20
    while "left open by the previous run, closed: ready" not in stderr.read_text():
        assert time.monotonic() < deadline, stderr.read_text()[-2000:]
        await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=again.http_base, timeout=10) as client:
        # Answered once serving: its stop signals are handled by then.
        assert (await client.get("/live/demo/index.m3u8")).status_code == 404
    again.proc.terminate()
    assert await asyncio.wait_for(again.proc.wait(), 30) == 0

    database = await Database.open(settings, migrate=False)
    try:
        store = RecordingStore(database.sessionmaker)
        (closed,) = await store.for_channel("demo")
        rows = await store.segments(closed.id)
    finally:
        await database.close()
    assert closed.status == "ready"
    source = [r for r in rows if r.rendition == "source"]
    assert len(source) >= 5
    assert [r.sequence for r in source] == list(range(len(source)))
    last_end = max(r.program_date_time + r.duration for r in rows)
    assert closed.ended_at == pytest.approx(last_end, abs=0.01)
    assert closed.duration == pytest.approx(sum(r.duration for r in source), abs=0.01)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", closed.id)
    assert "left open by the previous run, closed: ready" in stderr.read_text()
    # Closed as a VOD: its playlists were stored while closing it.
    vod = data / "recordings" / closed.id
    assert "#EXT-X-ENDLIST" in (vod / "source" / "index.m3u8").read_text()
    assert "source/index.m3u8" in (vod / "index.m3u8").read_text()
    assert (vod / "manifest.mpd").is_file()
