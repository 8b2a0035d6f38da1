"""Chat replay over a real recording with a publisher reconnect in it: messages sent over
the chat socket while live, and messages stored through the chat store at chosen media
times, come back from ``/api/v1/vods/{id}/chat`` and ``/web/vods/<id>/chat`` at their place
on the VOD's timeline (the served playlist's), oldest first; deleted messages and a banned
user's are hidden; a private VOD's chat is a 404 to strangers. The VOD's thumbnail is stored
and served, the past broadcasts page lists the VOD and its page counts a view."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest
import websockets

from golive.app import GoliveServer
from golive.db.recordings import RecordingStore
from golive.live.hub import StreamState
from tests.e2e.test_recording import wait_until_finished
from tests.hls_conformance import parse_media_playlist
from tests.support.api_tokens import bearer, user_token
from tests.support.publisher import finish, start_publisher
from tests.support.server import http_client, rtmp_url, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

FIRST, SECOND = 6, 5  # seconds published before and after the reconnect


async def say_when_live(server: GoliveServer, session: str, text: str) -> dict[str, Any]:
    """Send ``text`` over the chat socket once the stream is live; the message as relayed."""
    for _ in range(200):
        hub = server.registry.hub("demo")
        if hub is not None and hub.state is StreamState.LIVE:
            break
        await asyncio.sleep(0.05)
    url = f"ws://127.0.0.1:{server.http_port}/api/v1/channels/demo/chat"
    headers = {"cookie": f"golive_session={session}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "send", "text": text, "nonce": "n"}))
        while True:
            got = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if got["type"] == "messages":
                for message in got["messages"]:
                    if message["text"] == text:
                        return dict(message)


async def source_timeline(recordings: RecordingStore, rid: str) -> list[tuple[float, float]]:
    """(program date-time, duration) of the source rendition's segments, in order."""
    rows = [s for s in await recordings.segments(rid) if s.rendition == "source"]
    return [(s.program_date_time, s.duration) for s in sorted(rows, key=lambda s: s.sequence)]


def wall_at(timeline: list[tuple[float, float]], vod_time: float) -> float:
    """The wall clock of a VOD time: inside the segment that holds it."""
    offset = 0.0
    for pdt, duration in timeline:
        if vod_time < offset + duration:
            return pdt + (vod_time - offset)
        offset += duration
    raise AssertionError(f"{vod_time} is past the VOD's end {offset}")


async def test_chat_replay_of_a_vod_with_a_reconnect(tmp_path: Path) -> None:
    async with (
        running_server(
            tmp_path / "data", reconnect_grace=5.0, channel_ladders={"demo": "passthrough"}
        ) as server,
        http_client(server) as client,
    ):
        assert server.channels is not None and server.users is not None
        assert server.recordings is not None and server.chat_store is not None
        sessions = {}
        for name in ("owner", "viewer", "troll"):
            async with http_client(server) as own:
                sessions[name] = await sign_up(own, name)
        owner = await server.users.by_name("owner")
        assert owner is not None
        await server.channels.update("demo", owner_id=owner.id)
        url = rtmp_url(server, server.demo_key or "")

        publisher = await start_publisher(url, seconds=FIRST, size="320x180")
        live_one = await say_when_live(server, sessions["viewer"], "live before the reconnect")
        await say_when_live(server, sessions["troll"], "troll while live")
        assert (await finish(publisher))[0] == 0
        publisher = await start_publisher(url, seconds=SECOND, size="320x180")
        await asyncio.sleep(1.0)
        live_two = await say_when_live(server, sessions["viewer"], "live after the reconnect")
        assert (await finish(publisher))[0] == 0
        assert server.registry.stop("demo", "test over", end=True)
        vod = await wait_until_finished(server.recordings)
        assert vod.status == "ready"
        assert live_one["media_time"] is not None and live_two["media_time"] is not None

        # The VOD's timeline as the player sees it: the served playlist's segment durations.
        playlist = parse_media_playlist((await client.get(f"/vod/{vod.id}/source/index.m3u8")).text)
        durations = [s.duration for s in playlist.segments]
        timeline = await source_timeline(server.recordings, vod.id)
        assert [round(d, 3) for _, d in timeline] == pytest.approx(durations, abs=0.002)
        breaks = [i for i, s in enumerate(playlist.segments) if s.discontinuity]
        assert len(breaks) == 1
        reconnect_at = math.fsum(durations[: breaks[0]])  # where the second timeline starts
        total = math.fsum(durations)

        # Messages at chosen VOD times, stored as the live chat stores them (media time =
        # wall clock - the stream's start).
        chosen = {
            "at one": 1.0,
            "at three": 3.0,
            "after it": reconnect_at + 1.0,
            "end": total - 0.2,
        }
        ids = {}
        user = await server.users.by_name("viewer")
        assert user is not None
        channel = await server.channels.get("demo")
        assert channel is not None
        for n, (text, vod_time) in enumerate(chosen.items()):
            ids[text] = f"chosen{n}"
            server.chat_store.save_message(
                channel.id,
                user.id,
                {
                    "id": ids[text],
                    "text": text,
                    "time": 0,
                    "stream_id": vod.stream_id,
                    "media_time": wall_at(timeline, vod_time) - vod.started_at,
                },
            )
        server.chat_store.save_message(
            channel.id,
            user.id,
            {
                "id": "gone",
                "text": "deleted",
                "time": 0,
                "stream_id": vod.stream_id,
                "media_time": wall_at(timeline, 2.0) - vod.started_at,
            },
        )
        await server.chat_store.flush()
        await server.chat_store.mark_deleted(channel.id, ["gone"])
        troll = await server.users.by_name("troll")
        assert troll is not None
        await server.chat_store.set_ban(channel.id, troll.id, None, owner.id)

        reader = bearer(await user_token(server, "reader", ["read"]))
        r = await client.get(f"/api/v1/vods/{vod.id}/chat?from=0&to={total + 1}", headers=reader)
        assert r.status_code == 200, r.text
        got = r.json()["messages"]
        texts = [m["text"] for m in got]
        assert "deleted" not in texts and "troll while live" not in texts
        times = [m["t"] for m in got]
        assert times == sorted(times)
        at = {m["text"]: m["t"] for m in got}
        for text, vod_time in chosen.items():
            assert at[text] == pytest.approx(vod_time, abs=0.002), (text, got)
        # Sent over the socket while live: before the reconnect lands in the first timeline,
        # after it (the picture may not be back yet) no earlier than where the second starts.
        assert 0.0 <= at["live before the reconnect"] < reconnect_at
        assert reconnect_at - 0.002 <= at["live after the reconnect"] <= total
        assert got[0]["user"] == "viewer" and set(got[0]) == {
            "id",
            "user",
            "display_name",
            "text",
            "t",
        }

        # A window takes only its range; the web JSON answers the same, anonymously.
        r = await client.get(f"/api/v1/vods/{vod.id}/chat?from=2&to=4", headers=reader)
        assert [m["text"] for m in r.json()["messages"]] == ["at three"]
        r = await client.get(f"/web/vods/{vod.id}/chat?from=0&to={total + 1}")
        assert r.json()["messages"] == got
        r = await client.get(f"/api/v1/vods/{vod.id}/chat?from=0&to=601", headers=reader)
        assert r.status_code == 422

        # Private: the chat is a 404 to strangers as the VOD is.
        await server.recordings.update(vod.id, visibility="private")
        assert (await client.get(f"/api/v1/vods/{vod.id}/chat", headers=reader)).status_code == 404
        assert (await client.get(f"/web/vods/{vod.id}/chat")).status_code == 404
        own = {"cookie": f"golive_session={sessions['owner']}"}
        assert (await client.get(f"/web/vods/{vod.id}/chat", headers=own)).status_code == 200
        await server.recordings.update(vod.id, visibility="public")

        # The thumbnail, the past broadcasts page, the VOD page and its view.
        thumb = await client.get(f"/vod/{vod.id}/thumbnail.jpg")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert thumb.content.startswith(b"\xff\xd8")
        page = await client.get("/demo/videos")
        assert page.status_code == 200 and f'href="/videos/{vod.id}"' in page.text
        page = await client.get(f"/videos/{vod.id}")
        assert page.status_code == 200 and f'data-vod="{vod.id}"' in page.text
        assert server.vod_views is not None
        await server.vod_views.flush()
        after = await server.recordings.get(vod.id)
        assert after is not None and after.views == 1
