"""The chat WebSocket, ``/api/v1/channels/{channel}/chat`` (protocol: docs/chat.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import HTTPConnection
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from golive.accounts.csrf import is_same_origin
from golive.chat.chat_room import ChatMember, ChatRoom, ChatUser
from golive.chat.chat_service import ChatService
from golive.chat.message_text import ChatRejected
from golive.http.websocket_wire import wire_writer

__all__ = ["MAX_FRAME_BYTES", "chat_route"]

log = logging.getLogger("golive.chat")

MAX_FRAME_BYTES = 4096
CLOSE_UNKNOWN_CHANNEL = 4404
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_TOO_SLOW = 4408

ResolveUser = Callable[[HTTPConnection], Awaitable[ChatUser | None]]


def chat_route(
    service: ChatService,
    resolve_user: ResolveUser,
    *,
    trusted_origins: Callable[[], Sequence[str]] = tuple,
) -> WebSocketRoute:
    """``trusted_origins``: origins accepted besides the Host's own (the public URL, which is
    what browsers send behind a proxy that rewrites Host)."""

    async def endpoint(socket: WebSocket) -> None:
        channel = socket.path_params["channel"]
        # Browsers send Origin on WebSocket handshakes; a foreign one is cross-site hijacking.
        if not is_same_origin(socket.headers, trusted_origins=trusted_origins()):
            log.warning("chat: refused a cross-origin connection to %s", channel)
            await socket.close(CLOSE_FORBIDDEN_ORIGIN, "cross-origin connection")
            return
        room = await service.room(channel) if len(channel) <= 32 else None
        if room is None:
            await socket.close(CLOSE_UNKNOWN_CHANNEL, "no such channel")
            return
        user = await resolve_user(socket)
        await socket.accept()
        member = room.join(user)
        await member.start(socket.send_text, wire_writer(socket.scope))
        sender = asyncio.create_task(_close_when_dropped(socket, member))
        try:
            await _receive(socket, room, member, user)
        finally:
            room.leave(member)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    return WebSocketRoute("/api/v1/channels/{channel}/chat", endpoint)


async def _close_when_dropped(socket: WebSocket, member: ChatMember) -> None:
    """Close the socket of a member the room dropped (it stopped reading)."""
    await member.ready.wait()
    reason = "too slow: frames were not read" if member.overflowed else "closed"
    with contextlib.suppress(Exception):
        await socket.close(CLOSE_TOO_SLOW if member.overflowed else 1000, reason)


def _error(exc: ChatRejected, nonce: object) -> str:
    return json.dumps(
        {
            "type": "error",
            "code": exc.code,
            "message": exc.message,
            "nonce": nonce if isinstance(nonce, str) and len(nonce) <= 64 else None,
            "retry_after": exc.retry_after,
        }
    )


async def _receive(
    socket: WebSocket, room: ChatRoom, member: ChatMember, user: ChatUser | None
) -> None:
    while not member.closed:
        try:
            message = await socket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            raw_bytes = message.get("bytes") or b""
            raw = raw_bytes.decode("utf-8", "replace") if len(raw_bytes) <= MAX_FRAME_BYTES else ""
            if len(raw_bytes) > MAX_FRAME_BYTES:
                raw = None
        if raw is None or len(raw.encode()) > MAX_FRAME_BYTES:
            member.push(_error(ChatRejected("too_large", "frames are limited to 4 KiB"), None))
            log.info("chat: closed a connection to %s that sent an oversized frame", room.channel)
            await asyncio.sleep(0)  # let a pending send flush the error first
            member.closed = True
            member.ready.set()
            return
        nonce: object = None
        try:
            request: Any = json.loads(raw)
            if not isinstance(request, dict):
                raise ValueError
            nonce = request.get("nonce")
            await _act(room, member, user, request, nonce)
        except ChatRejected as exc:
            member.push(_error(exc, nonce))
        except ValueError:
            member.push(_error(ChatRejected("bad_request", "frames are JSON objects"), nonce))


async def _act(
    room: ChatRoom,
    member: ChatMember,
    user: ChatUser | None,
    request: dict[str, Any],
    nonce: object,
) -> None:
    kind = request.get("type")
    if kind == "send":
        sent = room.send(user, request.get("text"))
        if isinstance(nonce, str) and len(nonce) <= 64:
            member.push(json.dumps({"type": "ack", "nonce": nonce, "id": sent["id"]}))
    elif kind == "delete":
        await room.delete(user, request.get("id"))
    elif kind == "timeout":
        await room.timeout(user, request.get("user"), request.get("seconds"))
    elif kind == "ban":
        await room.ban(user, request.get("user"))
    elif kind == "unban":
        await room.unban(user, request.get("user"))
    elif kind in ("mod", "unmod"):
        await room.set_moderator(user, request.get("user"), kind == "mod")
    elif kind == "slow_mode":
        await room.set_slow_mode(user, request.get("seconds"))
    else:
        raise ChatRejected("bad_request", "unknown type")
