"""Clips end to end, on local disk and on the S3 backend: a real ffmpeg publisher; a clip of
the last 30 s while live (through the site's JSON, timed from the request to its first
segment served) and one of a VOD (through the API); the refusals; every clip segment decoded
with PyAV; the thumbnail, the MP4; the clip outlives its VOD (deleted through the API, or
expired by retention); clip.created is delivered."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from golive.app import GoliveServer
from golive.db.models import Recording
from tests.e2e.test_recording import recording_storage, wait_until_finished
from tests.e2e.test_vod import raw_get
from tests.hls_conformance import (
    assert_conformant,
    check_media_playlist,
    check_multivariant_playlist,
    parse_media_playlist,
    parse_multivariant_playlist,
)
from tests.support.api_tokens import bearer, user_token
from tests.support.media_check import assert_continuous, decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["recording_storage"]  # the fixture, imported to be used here

LIVE_SECONDS = 50  # the first session: clipped while live, then as a VOD
RECORDED_BEFORE_CLIP = 33  # seconds stored before the live clip is asked for
SECOND_SESSION = 9  # a second, short session: its VOD expires by retention
vod_id_shape = "A" * 16


async def recorded_seconds(server: GoliveServer) -> float:
    assert server.recordings is not None
    active = await server.recordings.active_for_channel("demo")
    if active is None:
        return 0.0
    rows = await server.recordings.segments(active.id)
    return math.fsum(r.duration for r in rows if r.rendition == "source")


async def play_clip(client: httpx.AsyncClient, clip_id: str) -> dict[str, Any]:
    """Every playlist and segment of the clip, fetched and decoded: the source's listed
    duration, its decoded video frames, its longest segment."""
    base = f"/clip/{clip_id}"
    r = await client.get(f"{base}/index.m3u8")
    assert r.status_code == 200, r.text
    assert "immutable" in r.headers["cache-control"]
    assert_conformant(check_multivariant_playlist(r.text))
    names = [v.uri.split("/")[0] for v in parse_multivariant_playlist(r.text).variants if v.uri]
    assert names == ["source", "audio"]
    out: dict[str, Any] = {}
    for name in names:
        r = await client.get(f"{base}/{name}/index.m3u8")
        assert r.status_code == 200
        assert_conformant(check_media_playlist(r.text))
        pl = parse_media_playlist(r.text)
        assert pl.endlist and pl.playlist_type == "VOD"
        inits: dict[str, bytes] = {}
        body = b""
        for seg in pl.segments:
            assert seg.map_uri is not None and not seg.discontinuity
            if seg.map_uri not in inits:
                inits[seg.map_uri] = (await client.get(f"{base}/{name}/{seg.map_uri}")).content
                body += inits[seg.map_uri]
            got = await client.get(f"{base}/{name}/{seg.uri}")
            assert got.status_code == 200 and got.headers["content-type"] == "video/iso.segment"
            body += got.content
        media = decode(body)
        assert media.audio_pts
        if name == "source":
            assert_continuous(media.video_pts, 0.2, label="clip video")
            out = {
                "duration": math.fsum(s.duration for s in pl.segments),
                "longest": max(s.duration for s in pl.segments),
                "frames": len(media.video_pts),
                "segments": len(pl.segments),
            }
    return out


async def wait_for_object(client: httpx.AsyncClient, path: str, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(path)
        if r.status_code == 200:
            return r.content
        assert r.status_code == 404, r.text
        assert time.monotonic() < deadline, f"{path} never appeared"
        await asyncio.sleep(0.25)


async def test_clips_from_live_and_from_a_vod_outlive_their_vod(
    tmp_path: Path, recording_storage: str
) -> None:
    async with (
        WebhookReceiver() as receiver,
        running_server(
            tmp_path / "data",
            reconnect_grace=10.0,
            channel_ladders={"demo": "passthrough"},
            recording_storage=recording_storage,
            webhook_url=receiver.url("/events"),
            webhook_secret="s" * 32,
        ) as server,
    ):
        assert server.channels is not None and server.users is not None
        assert server.recordings is not None and server.db is not None
        owner = bearer(await user_token(server, "owner", ["write"]))
        stranger = bearer(await user_token(server, "stranger", ["write"]))
        owner_user = await server.users.by_name("owner")
        assert owner_user is not None
        await server.channels.update("demo", owner_id=owner_user.id)
        url = rtmp_url(server, server.demo_key or "")
        publisher = await start_publisher(url, seconds=LIVE_SECONDS)
        async with http_client(server) as viewer, http_client(server) as anonymous:
            await sign_up(viewer, "viewer")
            csrf = {"x-csrf-token": (await viewer.get("/web/session")).json()["csrf"]}
            live = "/web/channels/demo/clips"

            # Not live yet: nothing recorded, or not live at all.
            deadline = time.monotonic() + 60
            while await recorded_seconds(server) < RECORDED_BEFORE_CLIP:
                assert time.monotonic() < deadline, "the stream is not being recorded"
                await asyncio.sleep(0.25)

            # Refusals, each a clear 4xx in the site's JSON error shape.
            refusals: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
                (live, {"duration": 0}, csrf, 422, "invalid_clip"),
                (live, {"duration": 4}, csrf, 422, "invalid_clip"),
                (live, {"duration": 61}, csrf, 422, "invalid_clip"),
                (live, {"duration": "thirty"}, csrf, 422, "invalid_clip"),
                (live, {"start_pdt": time.time() - 3600}, csrf, 422, "clip_out_of_range"),
                (live, {"start_pdt": time.time() + 3600}, csrf, 422, "clip_out_of_range"),
                ("/web/channels/nosuch/clips", {}, csrf, 404, "channel_not_found"),
                ("/web/vods/AAAAAAAAAAAAAAAA/clips", {}, csrf, 404, "vod_not_found"),
            ]
            for path, body, headers, status, code in refusals:
                r = await viewer.post(path, json=body, headers=headers)
                assert r.status_code == status, (body, r.text)
                assert r.json()["error"]["code"] == code, (body, r.text)
            r = await anonymous.post(live, json={}, headers=csrf)
            assert r.status_code == 401 and r.json()["error"]["code"] == "not_signed_in"

            # The last 30 s, playable at once: timed from the request to its first segment
            # served, three times (the median is what is asserted: the machine is shared).
            timings: list[tuple[float, float]] = []
            made: dict[str, Any] = {}
            assert server.clips is not None
            for _ in range(3):
                began = time.monotonic()
                r = await viewer.post(live, json={"title": "<b>nice</b> shot"}, headers=csrf)
                assert r.status_code == 201, r.text
                first = await viewer.get(
                    r.json()["playlist_url"].replace("index.m3u8", "source/0.m4s")
                )
                assert first.status_code == 200
                timings.append((time.monotonic() - began, server.clips.last_copy_seconds))
                made = made or r.json()
            playable = sorted(t for t, _ in timings)[1]
            backend = "s3 (moto)" if recording_storage else "local disk"
            print(
                f"clip of the last 30 s on {backend}: playable after "
                + ", ".join(f"{t * 1000:.0f} ms (copy {c * 1000:.0f} ms)" for t, c in timings)
                + f"; median {playable * 1000:.0f} ms"
            )
            # Local disk: hard links, well under a second. S3: one CopyObject per object, 8
            # at a time: moto (Python, at nice 19 here) answers in tens to hundreds of ms per
            # request, so only a loose bound; a real S3 server is what the benchmark times.
            assert playable < (1.0 if not recording_storage else 15.0)
            live_clip = made["id"]
            assert made["url"] == f"/clips/{live_clip}"
            assert made["duration"] == pytest.approx(30, abs=2)
            live_media = await play_clip(viewer, live_clip)
            assert live_media["duration"] == pytest.approx(30, abs=live_media["longest"])
            assert live_media["frames"] == pytest.approx(live_media["duration"] * 30, abs=3)

            # The page: escaped title, the player, a view counted per page view.
            page = await viewer.get(f"/clips/{live_clip}")
            assert page.status_code == 200
            assert "&lt;b&gt;nice&lt;/b&gt; shot" in page.text and "<b>nice" not in page.text
            assert f'data-src="/clip/{live_clip}/index.m3u8"' in page.text
            assert "1 view" in page.text
            await viewer.head(f"/clips/{live_clip}")
            await viewer.get(f"/clip/{live_clip}/source/index.m3u8")
            assert "2 views" in (await viewer.get(f"/clips/{live_clip}")).text
            assert (await viewer.get("/clips/AAAAAAAAAAAAAAAA")).status_code == 404

            # No way out of the clip's space: only its own names are served.
            base = f"/clip/{live_clip}"
            tricks = [
                f"{base}/../{live_clip}/index.m3u8",
                f"{base}/source/..%2F..%2Findex.m3u8",
                f"{base}/%2e%2e/index.m3u8",
                f"{base}/source/thumbnail.jpg",
                f"{base}/source/0.mp4",
                f"{base}/.hidden",
                f"/clip/{vod_id_shape}/../../{live_clip}/index.m3u8",
                "/clip/../recordings.db",
                f"/clips/{live_clip}/../../etc/passwd",
            ]
            for path in tricks:
                status, body = await raw_get(server.http_port, path)
                assert status in (400, 404), (path, status)
                assert b"#EXTM3U" not in body, path

        assert (await finish(publisher))[0] == 0
        server.registry.stop("demo", "test over", end=True)  # unless its grace ran out already
        vod = await wait_until_finished(server.recordings)
        assert vod.status == "ready"

        async with http_client(server) as client:
            # Not live any more.
            r = await client.post("/api/v1/channels/demo/clips", json={}, headers=stranger)
            assert r.status_code == 409 and r.json()["error"]["code"] == "channel_not_live"

            # From the VOD, by anyone (clip_permission everyone) ...
            clip_api = f"/api/v1/vods/{vod.id}/clips"
            r = await client.post(clip_api, json={"start": 5.5, "duration": 10}, headers=stranger)
            assert r.status_code == 201, r.text
            vod_clip = r.json()
            assert vod_clip["creator"] == "stranger" and vod_clip["vod_id"] == vod.id
            assert vod_clip["start"] <= 5.5 and vod_clip["duration"] == pytest.approx(10, abs=1)
            for body in ({"start": vod.duration + 1}, {"start": vod.duration - 3, "duration": 10}):
                r = await client.post(clip_api, json=body, headers=stranger)
                assert r.status_code == 422, r.text
                assert r.json()["error"]["code"] == "clip_out_of_range"
            r = await client.post(clip_api, json={"duration": "x"}, headers=stranger)
            assert r.status_code == 422
            # ... but not when the owner says moderators only ...
            r = await client.patch(
                "/api/v1/channels/demo", json={"clip_permission": "moderators"}, headers=owner
            )
            assert r.status_code == 200 and r.json()["clip_permission"] == "moderators"
            r = await client.post(clip_api, json={}, headers=stranger)
            assert r.status_code == 403 and r.json()["error"]["code"] == "clip_not_allowed"
            r = await client.post(clip_api, json={"start": 0, "duration": 5}, headers=owner)
            assert r.status_code == 201, r.text
            owners_clip = r.json()["id"]
            # ... and a private VOD is not there for strangers.
            r = await client.patch(
                f"/api/v1/vods/{vod.id}", json={"visibility": "private"}, headers=owner
            )
            assert r.status_code == 200
            r = await client.post(clip_api, json={}, headers=stranger)
            assert r.status_code == 404 and r.json()["error"]["code"] == "vod_not_found"
            await client.patch(
                f"/api/v1/vods/{vod.id}", json={"visibility": "public"}, headers=owner
            )
            for path in ("/api/v1/vods/AAAAAAAAAAAAAAAA/clips", "/api/v1/channels/nope/clips"):
                r = await client.post(path, json={}, headers=owner)
                assert r.status_code == 404, r.text

            # Read, list, retitle, delete.
            r = await client.get(f"/api/v1/clips/{vod_clip['id']}", headers=owner)
            assert (r.status_code == 200 and r.json()["title"] == vod.title) or r.json()["title"]
            listed = (await client.get("/api/v1/channels/demo/clips", headers=stranger)).json()
            assert {live_clip, vod_clip["id"], owners_clip} <= {c["id"] for c in listed}
            assert len(listed) == 5  # and the two other live clips
            r = await client.patch(
                f"/api/v1/clips/{owners_clip}", json={"title": "mine"}, headers=stranger
            )
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_clip_owner"
            r = await client.patch(
                f"/api/v1/clips/{vod_clip['id']}", json={"title": "  renamed "}, headers=stranger
            )
            assert r.status_code == 200 and r.json()["title"] == "renamed"
            r = await client.delete(f"/api/v1/clips/{owners_clip}", headers=stranger)
            assert r.status_code == 403
            r = await client.delete(f"/api/v1/clips/{owners_clip}", headers=owner)
            assert r.status_code == 204
            assert (await client.get(f"/clip/{owners_clip}/index.m3u8")).status_code == 404
            assert (
                await client.get(f"/api/v1/clips/{owners_clip}", headers=owner)
            ).status_code == 404

            # Thumbnail and MP4, made in the background.
            jpeg = await wait_for_object(client, f"/clip/{live_clip}/thumbnail.jpg")
            assert jpeg.startswith(b"\xff\xd8")
            mp4 = await wait_for_object(client, f"/clip/{live_clip}/download.mp4")
            r = await client.head(f"/clip/{live_clip}/download.mp4")
            assert r.headers["content-disposition"].startswith('attachment; filename="demo-clip-')
            assert len(decode(mp4).video_pts) == live_media["frames"]

            # The VOD deleted: both of its clips still play, whole.
            r = await client.delete(f"/api/v1/vods/{vod.id}", headers=owner)
            assert r.status_code == 204
            assert (await client.get(f"/vod/{vod.id}/index.m3u8")).status_code == 404
            assert (await play_clip(client, live_clip)) == live_media
            await play_clip(client, vod_clip["id"])
            r = await client.get(f"/api/v1/clips/{live_clip}", headers=owner)
            assert r.json()["vod_id"] is None

            # A second session whose VOD expires by retention: its clip stays.
            await client.patch(
                "/api/v1/channels/demo", json={"clip_permission": "everyone"}, headers=owner
            )
            assert (await finish(await start_publisher(url, seconds=SECOND_SESSION)))[0] == 0
            assert server.registry.stop("demo", "test over", end=True)
            second = await wait_until_finished(server.recordings)
            assert second.id != vod.id
            r = await client.post(
                f"/api/v1/vods/{second.id}/clips", json={"start": 1, "duration": 5}, headers=owner
            )
            assert r.status_code == 201, r.text
            kept = r.json()["id"]
            async with server.db.sessionmaker() as session, session.begin():
                await session.execute(
                    update(Recording)
                    .where(Recording.id == second.id)
                    .values(started_at=datetime.now(UTC) - timedelta(days=30))
                )
            server.settings = server.settings.model_copy(update={"record_retention_days": 7})
            assert server.retention is not None
            expired = await server.retention.run_once()
            assert [e.id for e in expired] == [second.id]
            assert (await client.get(f"/vod/{second.id}/index.m3u8")).status_code == 404
            await play_clip(client, kept)

            # Six made (three live, three from VODs), one of them deleted since: still six.
            metrics = (await client.get("/metrics")).text
            assert "golive_clips_created_total 6.0" in metrics

        made_ids = {live_clip, vod_clip["id"], owners_clip, kept}
        await receiver.wait_for(
            lambda got: (
                {r.json["data"]["id"] for r in got if r.json["type"] == "clip.created"} >= made_ids
            ),
            timeout=15,
        )
    event = next(
        r.json
        for r in receiver.received
        if r.json["type"] == "clip.created" and r.json["data"]["id"] == live_clip
    )
    data = event["data"]
    assert event["channel"] == "demo" and data["creator"] == "viewer"
    assert data["title"] == "<b>nice</b> shot" and data["duration"] == made["duration"]
    assert data["url"].endswith(f"/clips/{live_clip}")
    assert data["playlist_url"].endswith(f"/clip/{live_clip}/index.m3u8")
    assert isinstance(data["start"], float)
