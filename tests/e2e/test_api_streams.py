"""Live streams through the API while ffmpeg publishes: list, health, kick."""

from __future__ import annotations

import asyncio
import time

import pytest

from golive.app import GoliveServer
from tests.support.api_tokens import bearer, user_token
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


async def test_stream_health_and_kick(server: GoliveServer) -> None:
    alice = await user_token(server, "alice", ["write"])
    root = await user_token(server, "root", ["admin"], admin=True)
    async with http_client(server) as client:
        r = await client.post(
            "/api/v1/channels", json={"name": "alice-live"}, headers=bearer(alice)
        )
        key = r.json()["stream_key"]
        assert_not_live = await client.get(
            "/api/v1/channels/alice-live/stream", headers=bearer(alice)
        )
        assert assert_not_live.json()["error"]["code"] == "stream_not_live"
        proc = await start_publisher(rtmp_url(server, key), seconds=20, fps=30, gop=30)
        deadline = time.monotonic() + 15
        stream: dict[str, object] = {}
        while time.monotonic() < deadline:
            r = await client.get("/api/v1/channels/alice-live/stream", headers=bearer(alice))
            if r.status_code == 200 and r.json()["health"]["uptime"] > 2.5:
                stream = r.json()
                break
            await asyncio.sleep(0.2)
        assert stream, "the stream never showed up"
        health = stream["health"]
        assert isinstance(health, dict)
        assert stream["state"] == "live" and stream["publishes"] == 1
        assert stream["viewers"] == 0 and stream["peak_viewers"] == 0  # nobody plays it
        assert 25 <= health["fps"] <= 35
        assert health["video_codec"].startswith("avc1") and health["audio_codec"] == "mp4a.40.2"
        assert (health["width"], health["height"]) == (640, 360)
        assert health["keyframe_interval"] == pytest.approx(1.0, abs=0.05)
        assert health["bitrate_bps"] > 100_000

        listed = (await client.get("/api/v1/streams", headers=bearer(alice))).json()
        assert [s["channel"] for s in listed] == ["alice-live"]
        bob = await user_token(server, "bob", ["read"])
        assert (await client.get("/api/v1/streams", headers=bearer(bob))).json() == []
        channels = (await client.get("/api/v1/channels", headers=bearer(root))).json()
        assert {c["name"]: c["live"] for c in channels}["alice-live"] is True

        r = await client.post("/api/v1/channels/alice-live/stream/stop", headers=bearer(alice))
        assert r.status_code == 204
        code, _ = await finish(proc, 10)
        assert code != 0  # ffmpeg was disconnected mid-stream
        r = await client.get("/api/v1/channels/alice-live/stream", headers=bearer(alice))
        assert r.json()["state"] == "reconnecting"
        r = await client.post(
            "/api/v1/channels/alice-live/stream/stop?end=true", headers=bearer(alice)
        )
        assert r.status_code == 204
        r = await client.get("/api/v1/channels/alice-live/stream", headers=bearer(alice))
        assert r.json()["error"]["code"] == "stream_not_live"
        playlist = await client.get("/live/alice-live/source/index.m3u8")
        assert "#EXT-X-ENDLIST" in playlist.text
