"""Private playback end to end: a private channel's live media, watch page and chat are
closed to strangers and open to the owner's browser session; signed playback tokens in the
URL path open them to anyone who has the URL, until they expire, for that one channel or
VOD; the private channel's recording is a private VOD that plays through a token.

tests/e2e/test_edge_cache.py puts a real nginx cache in front."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import websockets

from golive.app import GoliveServer
from tests.e2e.test_recording import wait_until_finished
from tests.e2e.test_vod import raw_get
from tests.hls_conformance import parse_media_playlist
from tests.support.api_tokens import bearer, user_token
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

_MAX_AGE = re.compile(r"max-age=(\d+)")


async def wait_ok(client: httpx.AsyncClient, url: str, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = await client.get(url)
        if r.status_code == 200:
            return r
        assert time.monotonic() < deadline, f"{url}: {r.status_code} {r.text}"
        await asyncio.sleep(0.2)


def max_age(response: httpx.Response) -> int:
    match = _MAX_AGE.search(response.headers["cache-control"])
    assert match, response.headers["cache-control"]
    return int(match[1])


async def private_demo(server: GoliveServer, owner_client: httpx.AsyncClient) -> str:
    """Sign ``olivia`` up on ``owner_client``, give her the demo channel, make it private
    through the API; return her playback-only API token."""
    assert server.users is not None and server.channels is not None
    await sign_up(owner_client, "olivia")
    olivia = await server.users.by_name("olivia")
    assert olivia is not None
    await server.channels.update("demo", owner_id=olivia.id)
    writer = await user_token(server, "olivia", ["write"])
    r = await owner_client.patch(
        "/api/v1/channels/demo", json={"visibility": "private"}, headers=bearer(writer)
    )
    assert r.status_code == 200 and r.json()["visibility"] == "private", r.text
    return await user_token(server, "olivia", ["playback"])


async def issue(client: httpx.AsyncClient, token: str, body: dict[str, object]) -> dict[str, str]:
    r = await client.post("/api/v1/playback-tokens", json=body, headers=bearer(token))
    assert r.status_code == 201, r.text
    got: dict[str, str] = r.json()
    return got


async def test_private_live_and_vod_need_the_owner_or_a_token(tmp_path: Path) -> None:
    async with (
        running_server(tmp_path / "data", channel_ladders={"demo": "passthrough"}) as server,
        http_client(server) as owner,
        http_client(server) as stranger,
    ):
        playback = await private_demo(server, owner)
        assert server.channels is not None
        other_key = (await server.channels.add("other"))[1]
        publisher = await start_publisher(rtmp_url(server, server.demo_key or ""), seconds=10)
        other = await start_publisher(rtmp_url(server, other_key), seconds=10)
        try:
            # The owner's browser session plays it, kept out of shared caches.
            r = await wait_ok(owner, "/live/demo/index.m3u8")
            assert r.headers["cache-control"].startswith("private")
            media = await wait_ok(owner, "/live/demo/source/index.m3u8")
            assert media.headers["cache-control"].startswith("private")
            segment = parse_media_playlist(media.text).segments[0].uri
            r = await owner.get(f"/live/demo/source/{segment}")
            assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
            assert (await owner.get("/demo")).status_code == 200

            # Strangers get nothing: media, thumbnail, watch page, channel JSON, lists, chat.
            for path in (
                "/live/demo/index.m3u8",
                "/live/demo/source/index.m3u8",
                f"/live/demo/source/{segment}",
                "/live/demo/manifest.mpd",
                "/live/demo/thumbnail.jpg",
                "/demo",
                "/web/channels/demo",
            ):
                r = await stranger.get(path)
                assert r.status_code == 404, (path, r.status_code)
                assert b"#EXT" not in r.content and b"MPD" not in r.content
            await wait_ok(stranger, "/live/other/index.m3u8")  # a public channel still plays
            listed = [c["name"] for c in (await stranger.get("/web/channels")).json()["channels"]]
            assert "other" in listed and "demo" not in listed
            assert "/demo" not in (await stranger.get("/")).text
            assert 'href="/demo"' in (await owner.get("/")).text
            chat = f"ws://127.0.0.1:{server.http_port}/api/v1/channels/demo/chat"
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(chat) as ws:
                    await ws.recv()
            cookie = {"cookie": f"golive_session={owner.cookies['golive_session']}"}
            async with websockets.connect(chat, additional_headers=cookie) as ws:
                assert '"type"' in str(await asyncio.wait_for(ws.recv(), 5))

            # Tokens: a read token may not issue them; the playback one does, for her channel.
            reader = await user_token(server, "olivia", ["read"])
            r = await owner.post(
                "/api/v1/playback-tokens", json={"channel": "demo"}, headers=bearer(reader)
            )
            assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
            r = await owner.post(
                "/api/v1/playback-tokens", json={"channel": "other"}, headers=bearer(playback)
            )
            assert r.status_code == 404  # not hers
            for body in (
                {},
                {"channel": "demo", "vod": "AAAAAAAAAAAAAAAA"},
                {"channel": "demo", "ttl": 10**9},
            ):
                r = await owner.post("/api/v1/playback-tokens", json=body, headers=bearer(playback))
                assert r.status_code == 422, (body, r.text)
            granted = await issue(owner, playback, {"channel": "demo", "ttl": 600})
            token = granted["token"]
            assert granted["playlist_url"].endswith(f"/p/{token}/live/demo/index.m3u8")
            path = urlsplit(granted["playlist_url"]).path
            r = await stranger.get(path)
            assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
            assert 0 < max_age(r) <= 600
            # The relative URIs in the playlists carry the token with no rewriting.
            variant = next(line for line in r.text.splitlines() if line and line[0] != "#")
            media_path = urljoin(path, variant)
            r = await stranger.get(media_path)
            assert r.status_code == 200, r.text
            seg_path = urljoin(media_path, parse_media_playlist(r.text).segments[0].uri)
            assert seg_path.startswith(f"/p/{token}/live/demo/source/")
            r = await stranger.get(seg_path)
            assert r.status_code == 200 and r.content[4:8] in (b"styp", b"moof")
            assert r.headers["cache-control"].startswith("public") and 0 < max_age(r) <= 600
            # Answered by the lean path in front of the routing (it counts under its label).
            metrics = (await stranger.get("/metrics")).text
            assert 'route="/p/{token}/live/{channel}/{rendition}/{token}/{msn}.m4s"' in metrics
            r = await stranger.get(urlsplit(granted["mpd_url"]).path)
            assert r.status_code == 200 and b"<MPD" in r.content
            r = await stranger.get(f"/p/{token}/live/demo/thumbnail.jpg")
            assert r.status_code in (200, 404)  # made on demand; a 404 if not yet possible
            # The token opens the chat too.
            async with websockets.connect(f"{chat}?playback_token={token}") as ws:
                assert '"type"' in str(await asyncio.wait_for(ws.recv(), 5))

            # Wrong channel, forged, or tricks in the path: refused, nothing served.
            refused = [
                (f"/p/{token}/live/other/index.m3u8", 403, "another resource"),
                (f"/p/{token[:-2]}AA/live/demo/index.m3u8", 403, "signature"),
                (f"/p/{token}x/live/demo/index.m3u8", 403, "malformed"),
                (f"/p/{token}/vod/{'A' * 16}/index.m3u8", 403, "another resource"),
                (f"/p/{token}/live/demo/../other/index.m3u8", 404, ""),
                (f"/p/{token}/live/demo/%2e%2e/other/index.m3u8", 404, ""),
                (f"/p/{token}/live/demo%2F..%2Fother/index.m3u8", 404, ""),
                (f"/p/{token}/live/demo/source%2Findex.m3u8", 404, ""),
                (f"/p/{token}/live/demo//index.m3u8", 404, ""),
                (f"/p/{token}/../live/demo/index.m3u8", 404, ""),
                (f"/p/{token}/live/demo", 404, ""),
                ("/p//live/demo/index.m3u8", 404, ""),
            ]
            for raw, status, reason in refused:
                got_status, got_body = await raw_get(server.http_port, raw)
                assert got_status == status, (raw, got_status, got_body)
                assert reason.encode() in got_body and b"#EXT" not in got_body, raw
            assert (await raw_get(server.http_port, path))[0] == 200

            # A short token expires.
            short = await issue(owner, playback, {"channel": "demo", "ttl": 2})
            short_path = urlsplit(short["playlist_url"]).path
            r = await stranger.get(short_path)
            assert r.status_code == 200 and max_age(r) <= 2
            await asyncio.sleep(3.1)
            r = await stranger.get(short_path)
            assert r.status_code == 403 and "expired" in r.text
        finally:
            await finish(publisher)
            await finish(other)

        # The private channel's recording is a private VOD: the owner's, or a token's.
        assert server.registry.stop("demo", "test over", end=True)
        assert server.recordings is not None
        recording = await wait_until_finished(server.recordings)
        assert recording.status == "ready" and recording.visibility == "private"
        assert (await stranger.get(f"/vod/{recording.id}/index.m3u8")).status_code == 404
        r = await owner.get(f"/vod/{recording.id}/index.m3u8")
        assert r.status_code == 200 and r.headers["cache-control"].startswith("private")
        vod = await issue(owner, playback, {"vod": recording.id, "ttl": 120})
        assert vod["mpd_url"].endswith(f"/vod/{recording.id}/manifest.mpd")
        vod_path = urlsplit(vod["playlist_url"]).path
        r = await stranger.get(vod_path)
        assert r.status_code == 200 and 0 < max_age(r) <= 120
        variant = next(line for line in r.text.splitlines() if line and line[0] != "#")
        media_path = urljoin(vod_path, variant)
        r = await stranger.get(media_path)
        assert r.status_code == 200
        first = parse_media_playlist(r.text).segments[0]
        for uri in (first.map_uri, first.uri):
            assert uri is not None
            r = await stranger.get(urljoin(media_path, uri))
            assert r.status_code == 200 and 0 < max_age(r) <= 120, uri
        live_token = urlsplit(granted["playlist_url"]).path.split("/")[2]
        r = await stranger.get(f"/p/{live_token}/vod/{recording.id}/index.m3u8")
        assert r.status_code == 403  # a live token is no VOD token
        r = await owner.post(
            "/api/v1/playback-tokens",
            json={"vod": "AAAAAAAAAAAAAAAA"},
            headers=bearer(playback),
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "vod_not_found"

        # Unlisted: watchable by URL, listed for nobody but its owner.
        writer = await user_token(server, "olivia", ["write"])
        r = await owner.patch(
            "/api/v1/channels/demo", json={"visibility": "unlisted"}, headers=bearer(writer)
        )
        assert r.status_code == 200 and r.json()["visibility"] == "unlisted"
        assert (await stranger.get("/web/channels/demo")).status_code == 200
        assert (await stranger.get("/demo")).status_code == 200
        listed = [c["name"] for c in (await stranger.get("/web/channels")).json()["channels"]]
        assert "demo" not in listed
        mine = [c["name"] for c in (await owner.get("/web/channels")).json()["channels"]]
        assert "demo" in mine

        # The dashboard sets it too: its JSON, and its form without JavaScript.
        csrf = (await owner.get("/web/session")).json()["csrf"]
        r = await owner.post(
            "/web/channels/demo/settings",
            json={"visibility": "secret"},
            headers={"x-csrf-token": csrf},
        )
        assert r.status_code == 400 and "visibility" in r.text
        r = await owner.post(
            "/web/channels/demo/settings",
            json={"visibility": "private"},
            headers={"x-csrf-token": csrf},
        )
        assert r.status_code == 200 and r.json()["visibility"] == "private"
        assert (await stranger.get("/demo")).status_code == 404  # closed at once
        page = (await owner.get("/dashboard")).text
        assert '<option value="private" selected>' in page
        r = await owner.post(
            "/dashboard/channels/demo",
            data={"title": "t", "category": "", "visibility": "public", "csrf": csrf},
        )
        assert r.status_code == 303
        listed = [c["name"] for c in (await stranger.get("/web/channels")).json()["channels"]]
        assert "demo" in listed
        # Public again: the ended stream's last playlist is there for anyone.
        assert (await stranger.get("/live/demo/index.m3u8")).status_code == 200

        # Scopes: write includes playback; a playback token reads nothing else.
        r = await owner.post(
            "/api/v1/playback-tokens", json={"channel": "demo"}, headers=bearer(writer)
        )
        assert r.status_code == 201
        r = await owner.get("/api/v1/channels", headers=bearer(playback))
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
