"""A VOD's MP4 download: recorded with a reconnect, exported in the background by ffmpeg
(``-c copy``), polled through the API, downloaded through the origin and opened with PyAV,
on local disk and on the S3 backend."""

from __future__ import annotations

import asyncio
import io
import math
import time
from pathlib import Path

import av
import httpx
import pytest

from golive.app import GoliveServer
from golive.http import vod_media
from tests.e2e.test_recording import recording_storage, wait_until_finished
from tests.hls_conformance import parse_media_playlist
from tests.support.api_tokens import bearer, user_token
from tests.support.media_check import decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
__all__ = ["recording_storage"]  # the fixture, imported to be used here

FIRST, SECOND = 6, 5  # seconds published before and after the reconnect


async def poll_until_done(
    client: httpx.AsyncClient, path: str, token: dict[str, str], timeout: float = 60
) -> tuple[dict[str, object], list[float]]:
    """The export's final state and every progress value seen on the way."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(path, headers=token)
        assert r.status_code == 200, r.text
        state = r.json()
        seen.append(state["progress"])
        if state["status"] in ("ready", "failed"):
            return state, seen
        assert time.monotonic() < deadline, f"export never finished: {state}"
        await asyncio.sleep(0.1)


async def record(server: GoliveServer) -> str:
    url = rtmp_url(server, server.demo_key or "")
    assert (await finish(await start_publisher(url, seconds=FIRST)))[0] == 0
    assert (await finish(await start_publisher(url, seconds=SECOND)))[0] == 0
    assert server.registry.stop("demo", "test over", end=True)
    assert server.recordings is not None
    recording = await wait_until_finished(server.recordings)
    assert recording.status == "ready"
    return recording.id


async def test_the_mp4_download_has_every_frame_of_the_vod(
    tmp_path: Path, recording_storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A download is streamed a chunk at a time (it can be gigabytes): small chunks here, so
    # that this one goes out in many.
    monkeypatch.setattr(vod_media, "STREAM_CHUNK", 64 * 1024)
    async with running_server(
        tmp_path / "data",
        reconnect_grace=5.0,
        channel_ladders={"demo": "passthrough"},
        recording_storage=recording_storage,
    ) as server:
        vod_id = await record(server)
        assert server.channels is not None and server.users is not None
        owner_token = bearer(await user_token(server, "owner", ["write"]))
        stranger = bearer(await user_token(server, "stranger", ["write"]))
        owner = await server.users.by_name("owner")
        assert owner is not None
        await server.channels.update("demo", owner_id=owner.id)
        api = f"/api/v1/vods/{vod_id}/mp4"
        async with http_client(server) as client:
            r = await client.get(api, headers=stranger)
            assert r.status_code == 404 and r.json()["error"]["code"] == "vod_not_exported"
            r = await client.post(api, headers=stranger)
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_vod_owner"
            assert (await client.get(f"/vod/{vod_id}/download.mp4")).status_code == 404

            r = await client.post(api, headers=owner_token)
            assert r.status_code == 202, r.text
            assert r.json()["status"] in ("pending", "running") and r.json()["url"] is None
            again = await client.post(api, headers=owner_token)  # idempotent: the same job
            assert again.status_code in (200, 202)
            state, seen = await poll_until_done(client, api, stranger)  # public: anyone reads
            assert state["status"] == "ready", state
            assert seen == sorted(seen) and state["progress"] == 1.0
            assert state["url"] == f"{server.settings.http_base_url}/vod/{vod_id}/download.mp4"
            again = await client.post(api, headers=owner_token)
            assert again.status_code == 200 and again.json() == state
            assert server.mp4_exports is not None and server.mp4_exports.exported == 1

            r = await client.get(f"/vod/{vod_id}/download.mp4")
            assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
            assert len(r.content) == state["size"]
            disposition = r.headers["content-disposition"]
            assert disposition.startswith('attachment; filename="demo-')
            assert disposition.endswith('.mp4"')
            mp4 = r.content
            r = await client.get(f"/vod/{vod_id}/download.mp4", headers={"range": "bytes=0-99"})
            assert r.status_code == 206 and r.content == mp4[:100]

            # The source segments, as the VOD serves them.
            r = await client.get(f"/vod/{vod_id}/source/index.m3u8")
            playlist = parse_media_playlist(r.text)
            segment_frames: list[int] = []
            inits: dict[str, bytes] = {}
            for seg in playlist.segments:
                assert seg.map_uri is not None
                if seg.map_uri not in inits:
                    inits[seg.map_uri] = (
                        await client.get(f"/vod/{vod_id}/source/{seg.map_uri}")
                    ).content
                body = (await client.get(f"/vod/{vod_id}/source/{seg.uri}")).content
                segment_frames.append(len(decode(inits[seg.map_uri] + body).video_pts))
            assert sum(1 for s in playlist.segments if s.discontinuity) == 1  # the reconnect

    assert mp4[4:8] == b"ftyp"
    assert mp4.find(b"moov") < mp4.find(b"mdat")  # +faststart: playable while downloading
    media = decode(mp4)
    assert media.video_codec == "h264" and media.audio_codec == "aac"
    assert len(media.video_pts) == sum(segment_frames)
    with av.open(io.BytesIO(mp4), format="mp4") as container:
        video = container.streams.video[0]
        assert video.frames == sum(segment_frames)
        duration = (container.duration or 0) / 1_000_000
    published = math.fsum(s.duration for s in playlist.segments)
    longest = max(s.duration for s in playlist.segments)
    assert duration == pytest.approx(published, abs=longest)
    assert duration == pytest.approx(FIRST + SECOND, abs=longest)
