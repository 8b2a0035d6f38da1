"""Chat over the real WebSocket of a running server: signed-in users send, anyone reads,
history on join, limits, moderation that survives reconnecting, hostile input."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.frames import Close, Opcode
from websockets.protocol import Protocol, Side, State

from golive.app import GoliveServer
from tests.support.api_tokens import bearer, user_token
from tests.support.server import http_client, running_server
from tests.support.web_accounts import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    async with running_server(tmp_path / "data") as s:
        yield s


@asynccontextmanager
async def chat(
    server: GoliveServer, session: str | None = None, channel: str = "demo"
) -> AsyncIterator[ClientConnection]:
    headers = {"cookie": f"golive_session={session}"} if session else {}
    url = f"ws://127.0.0.1:{server.http_port}/api/v1/channels/{channel}/chat"
    async with websockets.connect(url, additional_headers=headers) as ws:
        yield ws


async def frame(ws: ClientConnection, kind: str, timeout: float = 5) -> dict[str, Any]:
    while True:
        got = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if got["type"] == kind:
            return got


async def session_for(server: GoliveServer, name: str) -> str:
    async with http_client(server) as client:
        return await sign_up(client, name, display=f"<img src=x onerror=alert('{name}')>")


async def test_send_receive_history_and_hostile_text(server: GoliveServer) -> None:
    alice = await session_for(server, "alice")
    hostile = "<img src=x onerror=window.__xss=1> & <script>alert(1)</script>"
    async with chat(server, alice) as a, chat(server) as anon:
        hello = await frame(a, "hello")
        assert hello["user"]["name"] == "alice" and hello["can_send"] is True
        assert (await frame(anon, "hello"))["user"] is None
        await a.send(json.dumps({"type": "send", "text": hostile, "nonce": "n1"}))
        ack = await frame(a, "ack")
        got = (await frame(anon, "messages"))["messages"][0]
        assert got["id"] == ack["id"] and got["text"] == hostile  # text stays text
        assert got["user"]["display_name"] == "<img src=x onerror=alert('alice')>"
        assert isinstance(got["time"], int) and got["media_time"] is None  # not live
        # Anyone reads; only the signed-in send.
        await anon.send(json.dumps({"type": "send", "text": "hi", "nonce": "x"}))
        assert (await frame(anon, "error"))["code"] == "not_signed_in"
    async with chat(server) as late:
        history = await frame(late, "history")
        assert [m["text"] for m in history["messages"]] == [hostile]


async def test_limits_and_bad_frames(server: GoliveServer) -> None:
    bob = await session_for(server, "bob")
    async with chat(server, bob) as ws:
        await frame(ws, "history")
        await ws.send(json.dumps({"type": "send", "text": "x" * 501}))
        assert (await frame(ws, "error"))["code"] == "too_long"
        await ws.send(json.dumps({"type": "dance"}))
        assert (await frame(ws, "error"))["code"] == "bad_request"
        await ws.send(json.dumps({"type": "send", "text": "same"}))
        await ws.send(json.dumps({"type": "send", "text": "SAME "}))
        assert (await frame(ws, "error"))["code"] == "duplicate"
        for i in range(6):
            await ws.send(json.dumps({"type": "send", "text": f"m{i}"}))
        error = await frame(ws, "error")
        assert error["code"] == "rate_limited" and error["retry_after"] > 0
        await ws.send(json.dumps({"type": "send", "text": "y" * 5000}))
        while (error := await frame(ws, "error"))["code"] == "rate_limited":
            pass
        assert error["code"] == "too_large"
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1009


async def closed_with(ws: ClientConnection) -> int | None:
    """Read until the server closes; the close code it sent."""
    with pytest.raises(websockets.ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    return ws.close_code


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("x" * (16 << 20), 1009),  # over the server's frame limit: refused from its header
        ("[" * 2000 + "]" * 2000, 1007),  # used to raise RecursionError (close without code)
        ("not json", 1007),
        ("[1, 2]", 1007),
    ],
    ids=["16MiB", "nested", "not-json", "not-object"],
)
async def test_bad_frames_close_with_a_code_and_the_room_goes_on(
    server: GoliveServer, payload: str, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "golive.chat")
    alice = await session_for(server, "alice")
    async with chat(server, alice) as a, chat(server) as other:
        await frame(a, "history")
        await frame(other, "history")
        async with chat(server) as bad:
            await frame(bad, "history")
            with contextlib.suppress(websockets.ConnectionClosed):
                await bad.send(payload)
            assert await closed_with(bad) == code
        assert any("closed a connection to demo" in r.getMessage() for r in caplog.records)
        # Everyone else is still served.
        await a.send(json.dumps({"type": "send", "text": "still here"}))
        got = (await frame(other, "messages"))["messages"][0]
        assert got["text"] == "still here"
    async with http_client(server) as client:
        assert (await client.get("/healthz")).status_code == 200


async def test_moderation_stays_in_its_channel(server: GoliveServer) -> None:
    """Regression: an owner deleted messages of another owner's channel by id."""
    mallory = await session_for(server, "mallory")
    victim = await session_for(server, "victim")
    assert server.channels is not None and server.users is not None
    for name in ("mallory", "victim"):
        user = await server.users.by_name(name)
        assert user is not None
        await server.channels.add(f"{name}-room", owner_id=user.id)
    async with chat(server, victim, "victim-room") as v, chat(server, mallory, "mallory-room") as m:
        await frame(v, "history")
        await frame(m, "history")
        await v.send(json.dumps({"type": "send", "text": "my words", "nonce": "n"}))
        target = (await frame(v, "ack"))["id"]
        await m.send(json.dumps({"type": "delete", "id": target, "nonce": "d"}))
        error = await frame(m, "error")
        assert error["code"] == "not_found" and error["nonce"] == "d"
    assert server.chat_store is not None
    await server.chat_store.flush()
    async with chat(server, None, "victim-room") as late:
        assert [x["text"] for x in (await frame(late, "history"))["messages"]] == ["my words"]
    room = await server.chat.room("victim-room") if server.chat else None
    assert room is not None
    room.history.clear()  # as if 50 newer messages had pushed it out of memory
    async with chat(server, mallory, "victim-room") as m:
        await frame(m, "history")
        await m.send(json.dumps({"type": "delete", "id": target}))
        assert (await frame(m, "error"))["code"] == "forbidden"


async def test_chat_follows_the_channel_owner_and_its_deletion(server: GoliveServer) -> None:
    """Regression: after an administrator moved a channel, the old owner kept the owner's
    role and banned the new owner; a deleted channel's chat stayed open."""
    old = await session_for(server, "old")
    new = await session_for(server, "new")
    admin = await user_token(server, "root", ["read", "write", "admin"], admin=True)
    assert server.channels is not None and server.users is not None
    old_user = await server.users.by_name("old")
    assert old_user is not None
    await server.channels.add("moved", owner_id=old_user.id)
    async with chat(server, old, "moved") as o, chat(server, new, "moved") as n:
        await frame(o, "history")
        await frame(n, "history")
        async with http_client(server) as client:
            r = await client.patch(
                "/api/v1/channels/moved", json={"owner": "new"}, headers=bearer(admin)
            )
            assert r.status_code == 200, r.text
        await o.send(json.dumps({"type": "ban", "user": "new"}))
        assert (await frame(o, "error"))["code"] == "forbidden"
        await n.send(json.dumps({"type": "ban", "user": "old"}))
        assert (await frame(o, "moderated"))["action"] == "ban"
        await n.send(json.dumps({"type": "send", "text": "mine now"}))
        got = (await frame(o, "messages"))["messages"][0]
        assert got["user"] == {
            "name": "new",
            "display_name": got["user"]["display_name"],
            "role": "owner",
        }
        async with http_client(server) as client:
            r = await client.delete("/api/v1/channels/moved", headers=bearer(admin))
            assert r.status_code == 204
        assert await closed_with(o) == 4410
        assert await closed_with(n) == 4410
        assert n.close_reason == "the channel was deleted"
    url = f"ws://127.0.0.1:{server.http_port}/api/v1/channels/moved/chat"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(url) as ws:
            await ws.recv()


async def test_unknown_channel_and_foreign_origin_are_refused(server: GoliveServer) -> None:
    url = f"ws://127.0.0.1:{server.http_port}/api/v1/channels/nobody/chat"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(url) as ws:
            await ws.recv()
    url = f"ws://127.0.0.1:{server.http_port}/api/v1/channels/demo/chat"
    with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed)):
        async with websockets.connect(url, origin="http://evil.example") as ws:  # type: ignore[arg-type]
            await ws.recv()


async def test_owner_and_moderator_ban_survives_reconnect(server: GoliveServer) -> None:
    owner = await session_for(server, "owner")
    mod = await session_for(server, "mod")
    troll = await session_for(server, "troll")
    assert server.channels is not None and server.users is not None
    owner_user = await server.users.by_name("owner")
    assert owner_user is not None
    await server.channels.add("room", owner_id=owner_user.id)
    async with chat(server, owner, "room") as o, chat(server, mod, "room") as m:
        await frame(o, "history")
        await frame(m, "history")
        # A viewer cannot moderate.
        await m.send(json.dumps({"type": "ban", "user": "troll"}))
        assert (await frame(m, "error"))["code"] == "forbidden"
        await o.send(json.dumps({"type": "mod", "user": "mod"}))
        assert (await frame(o, "moderated"))["action"] == "mod"
        async with chat(server, troll, "room") as t:
            await frame(t, "history")
            await t.send(json.dumps({"type": "send", "text": "spam"}))
            spam = (await frame(m, "messages"))["messages"][0]
            await m.send(json.dumps({"type": "delete", "id": spam["id"]}))
            assert (await frame(t, "deleted"))["ids"] == [spam["id"]]
            await m.send(json.dumps({"type": "ban", "user": "owner"}))
            assert (await frame(m, "error"))["code"] == "forbidden"
            await m.send(json.dumps({"type": "ban", "user": "troll"}))
            assert (await frame(t, "moderated"))["action"] == "ban"
            await t.send(json.dumps({"type": "send", "text": "evading"}))
            assert (await frame(t, "error"))["code"] == "banned"
    # Reconnecting does not help: the ban is in the database.
    async with chat(server, troll, "room") as t:
        assert (await frame(t, "hello"))["can_send"] is False
        await t.send(json.dumps({"type": "send", "text": "again"}))
        assert (await frame(t, "error"))["code"] == "banned"


async def test_moderation_through_the_api_reaches_the_chat(server: GoliveServer) -> None:
    troll = await session_for(server, "troll")
    token = await user_token(server, "boss", ["write"])
    other = await user_token(server, "stranger", ["write"])
    assert server.channels is not None and server.users is not None
    boss = await server.users.by_name("boss")
    assert boss is not None
    await server.channels.add("bossroom", owner_id=boss.id)
    async with chat(server, troll, "bossroom") as t, http_client(server) as client:
        await frame(t, "history")
        url = "/api/v1/channels/bossroom/chat"
        r = await client.put(f"{url}/bans/troll", json={}, headers=bearer(other))
        assert r.status_code == 404  # someone else's channel looks missing
        r = await client.put(f"{url}/bans/troll", json={"seconds": 600}, headers=bearer(token))
        assert r.status_code == 200, r.text
        (ban,) = r.json()["bans"]
        assert ban["user"] == "troll" and ban["until"] is not None
        moderated = await frame(t, "moderated")
        assert moderated["action"] == "timeout" and moderated["seconds"] == 600
        await t.send(json.dumps({"type": "send", "text": "hi"}))
        assert (await frame(t, "error"))["code"] == "timed_out"
        r = await client.put(f"{url}/bans/boss", json={}, headers=bearer(token))
        assert r.status_code == 409 and r.json()["error"]["code"] == "chat_refused"
        r = await client.put(f"{url}/bans/nobody", json={}, headers=bearer(token))
        assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
        assert (await client.delete(f"{url}/bans/troll", headers=bearer(token))).status_code == 204
        r = await client.put(f"{url}/slow-mode", json={"seconds": 30}, headers=bearer(token))
        assert r.json()["slow_mode"] == 30
        assert (await frame(t, "settings"))["slow_mode"] == 30
        r = await client.put(f"{url}/moderators/troll", headers=bearer(token))
        assert r.json()["moderators"] == ["troll"]
        await t.send(json.dumps({"type": "send", "text": "forgiven", "nonce": "k"}))
        assert (await frame(t, "ack"))["nonce"] == "k"


async def test_frames_go_straight_to_the_socket_and_a_stalled_reader_is_dropped(
    server: GoliveServer,
) -> None:
    """Under uvicorn, room frames bypass ASGI; a peer that stops reading is closed with 4408
    once its socket holds MAX_BUFFERED_BYTES, and the room goes on for everyone else."""
    assert server.chat is not None
    room = await server.chat.room("demo")
    assert room is not None
    # A reader that completes the handshake and then never reads, with a small receive buffer.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(raw, ("127.0.0.1", server.http_port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        raw,
        (
            f"GET /api/v1/channels/demo/chat HTTP/1.1\r\nHost: 127.0.0.1:{server.http_port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    head = await asyncio.wait_for(loop.sock_recv(raw, 1024), 5)
    assert b" 101 " in head
    try:
        async with chat(server) as ws:
            await frame(ws, "history")
            deadline = time.monotonic() + 10
            while len(room.members) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert len(room.members) == 2
            assert all(m.writes_directly for m in room.members)
            big = json.dumps({"type": "settings", "slow_mode": 0, "pad": "x" * 3000})
            sent = 0
            while room.dropped_members == 0 and sent < 2000:
                room.broadcast(big)
                sent += 1
                got = json.loads(await asyncio.wait_for(ws.recv(), 5))  # this one keeps reading
                assert got["type"] == "settings"
            assert sent < 2000, "the stalled reader was never dropped"
            assert room.dropped_members == 1 and len(room.members) == 1
            # The reader that kept up is still served.
            room.broadcast(json.dumps({"type": "settings", "slow_mode": 7}))
            assert (await frame(ws, "settings"))["slow_mode"] == 7
        # The stalled reader, once it reads again, finds everything buffered, then the close.
        parser = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
        closed = None
        async with asyncio.timeout(15):
            while closed is None:
                data = await loop.sock_recv(raw, 1 << 16)
                if not data:
                    break
                parser.receive_data(data)
                for event in parser.events_received():
                    if event.opcode is Opcode.CLOSE:
                        closed = Close.parse(event.data)
        assert closed is not None and closed.code == 4408, closed
    finally:
        raw.close()
    assert room.dropped_members == 1
