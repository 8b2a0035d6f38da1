"""ffmpeg publishes over WHIP (WebRTC: H.264 + Opus); the LL-HLS output is decoded with PyAV.
Bad offers and keys get their HTTP answers and log lines while another stream is served."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.hls_conformance import assert_conformant, check_media_playlist, parse_media_playlist
from tests.support.media_check import assert_continuous, decode
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.whip import an_offer, start_whip_publisher

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CHANNEL = "demo"


async def no_session_threads_left() -> None:
    """aiortc's (idle) decoder threads and the AAC worker end with their session."""
    names: list[str] = []
    for _ in range(50):
        names = [
            t.name
            for t in threading.enumerate()
            if t.name.endswith("-decoder") or t.name.startswith("whip-audio")
        ]
        if not names:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"threads left: {names}")


async def wait_for(
    client: httpx.AsyncClient, path: str, needle: str = "", timeout: float = 20
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await client.get(path)
        if r.status_code == 200 and needle in r.text:
            return r.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} never showed {needle!r}")


async def download(client: httpx.AsyncClient, base: str, playlist_text: str) -> bytes:
    playlist = parse_media_playlist(playlist_text)
    map_uri = playlist.segments[0].map_uri
    assert map_uri is not None
    init = (await client.get(base + map_uri)).content
    whole = bytearray(init)
    for seg in playlist.segments:
        r = await client.get(base + seg.uri)
        assert r.status_code == 200
        media = decode(init + r.content)
        assert media.video_codec == "h264" and media.audio_codec == "aac"
        assert (media.width, media.height) == (320, 240)
        whole += r.content
    return bytes(whole)


@pytest.mark.parametrize(("profile", "codec"), [("baseline", "avc1.42"), ("high", "avc1.64")])
async def test_whip_publish_to_ll_hls(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, profile: str, codec: str
) -> None:
    """Baseline as WebRTC stacks send it, and high profile (aiortc negotiates baseline
    only; golive passes any profile through: h264_profiles.py)."""
    caplog.set_level(logging.INFO, logger="golive")
    async with running_server(tmp_path, reconnect_grace=1.0) as server:
        key = server.demo_key
        assert key is not None
        proc = await start_whip_publisher(server.http_port, key, seconds=6, profile=profile)
        async with http_client(server) as client:
            multivariant = await wait_for(client, f"/live/{CHANNEL}/index.m3u8")
            inf = next(x for x in multivariant.splitlines() if x.startswith("#EXT-X-STREAM-INF"))
            assert f'CODECS="{codec}' in inf and 'mp4a.40.2"' in inf, inf
            assert "RESOLUTION=320x240" in inf
            text = await wait_for(client, f"/live/{CHANNEL}/source/index.m3u8")
            assert_conformant(check_media_playlist(text))

            code, err = await finish(proc)
            assert code == 0, err
            final = await wait_for(
                client, f"/live/{CHANNEL}/source/index.m3u8", "#EXT-X-ENDLIST", timeout=15
            )
            assert_conformant(check_media_playlist(final))
            media = decode(await download(client, f"/live/{CHANNEL}/source/", final))
            await no_session_threads_left()
        assert media.sample_rate == 48000
        # 6 s were sent; the first frames before the first keyframe and ICE/DTLS may be lost.
        assert len(media.video_pts) >= 30 * 4, len(media.video_pts)
        assert_continuous(media.video_pts, 1 / 30, label="video")
        assert_continuous(media.audio_pts, 1024 / 48000, label="audio")
        # Audio and video start together (aligned by arrival, within a few frames).
        assert abs(min(media.audio_pts) - min(media.video_pts)) < 0.15
        assert abs(max(media.audio_pts) - max(media.video_pts)) < 0.3
    lines = [r.getMessage() for r in caplog.records if r.name == "golive.ingest.whip"]
    assert any("accepted" in line for line in lines), lines
    # ffmpeg sends RTCP sender reports from its first packets: the audio is placed by them.
    assert any("audio placed against the video by sender reports" in x for x in lines), lines
    assert any("publisher ended the session" in line for line in lines), lines
    assert not any(key in line for line in lines)


async def test_whip_refusals(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="golive")
    async with running_server(tmp_path) as server:
        key = server.demo_key
        assert key is not None
        offer = await an_offer()
        sdp = {"content-type": "application/sdp"}
        # Another stream is live (RTMP) meanwhile, and keeps being served.
        rtmp = await start_publisher(rtmp_url(server, key), seconds=12, gop=30)
        async with http_client(server) as client:
            await wait_for(client, f"/live/{CHANNEL}/source/index.m3u8")

            def refused(status: int, needle: str) -> None:
                lines = [r.getMessage() for r in caplog.records if r.name == "golive.ingest.whip"]
                assert any(f"refused with {status}" in x and needle in x for x in lines), lines
                assert not any(key in x for x in lines)

            r = await client.post("/live/whip", content=offer, headers=sdp)
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")
            refused(401, "no stream key")

            r = await client.post(
                "/live/whip",
                content=offer,
                headers={**sdp, "authorization": "Bearer live_wrongwrongwrongwrong"},
            )
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "Invalid stream key" in r.text
            refused(401, "Invalid stream key")

            auth = {**sdp, "authorization": f"Bearer {key}"}
            r = await client.post("/live/whip", content=b"hello\r\nworld\r\n", headers=auth)
            assert r.status_code == 400
            assert "v=0" in r.text
            refused(400, "not an SDP offer")

            r = await client.post("/live/whip", content=await an_offer("video/VP8"), headers=auth)
            assert r.status_code == 406
            assert "vp08" in r.text
            refused(406, "Unsupported codec")

            r = await client.post("/live/whip", content=offer, headers=auth)
            assert r.status_code == 409
            assert "already live" in r.text
            refused(409, "already live")

            r = await client.post(
                "/live/whip", content=offer, headers={"authorization": f"Bearer {key}"}
            )
            assert r.status_code == 415

            r = await client.post("/live/whip", content=b"v=0\r\n" + b"a" * 70_000, headers=auth)
            assert r.status_code == 413

            r = await client.options("/live/whip")
            assert r.status_code == 204
            assert r.headers["accept-post"] == "application/sdp"
            assert "POST" in r.headers["access-control-allow-methods"]
            r = await client.patch("/live/whip/AAAAAAAAAAAAAAAAAAAAAAAA", headers=auth)
            assert r.status_code == 405
            r = await client.delete("/live/whip/AAAAAAAAAAAAAAAAAAAAAAAA", headers=auth)
            assert r.status_code == 404

            # The RTMP stream went on all along.
            before = (await client.get(f"/live/{CHANNEL}/source/index.m3u8")).text
            await asyncio.sleep(1.5)
            after = (await client.get(f"/live/{CHANNEL}/source/index.m3u8")).text
            assert after != before
        code, err = await finish(rtmp)
        assert code == 0, err


async def test_a_vanished_whip_publisher_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ffmpeg killed mid-stream sends no DELETE: the missing media ends the publish."""
    caplog.set_level(logging.INFO, logger="golive")
    async with running_server(tmp_path, reconnect_grace=1.0) as server:
        key = server.demo_key
        assert key is not None
        assert server.whip is not None
        proc = await start_whip_publisher(server.http_port, key, seconds=60)
        async with http_client(server) as client:
            await wait_for(client, f"/live/{CHANNEL}/source/index.m3u8")
            assert server.whip.count == 1
            running = {t.name.split("_")[0][:10] for t in threading.enumerate()}
            assert {"video-deco", "audio-deco", "whip-audio"} <= running, running
            proc.kill()
            await proc.wait()
            killed = time.monotonic()
            await wait_for(
                client, f"/live/{CHANNEL}/source/index.m3u8", "#EXT-X-ENDLIST", timeout=20
            )
            took = time.monotonic() - killed
        assert server.whip.count == 0
        await no_session_threads_left()
        ended = [
            r.getMessage()
            for r in caplog.records
            if r.name == "golive.ingest.whip" and "ended:" in r.getMessage()
        ]
        assert len(ended) == 1, ended
        assert "no media for 10 s" in ended[0] or "connection failed" in ended[0], ended
        assert took < 10 + 1 + 3, took  # media_timeout + reconnect_grace + slack
