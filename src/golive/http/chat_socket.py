"""The chat WebSocket, ``/api/v1/channels/{channel}/chat`` (protocol: docs/chat.md).

Frame size is bounded twice: the server refuses any frame over ``MAX_WIRE_FRAME_BYTES``
(uvicorn's ``ws_max_size``, checked on the frame header before the payload is read, close
1009), and requests over ``MAX_FRAME_BYTES`` are refused here (also 1009). A frame that is
not a JSON object closes the connection with 1007.
"""

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
from golive.chat.chat_request import MalformedRequest, parse_request
from golive.chat.chat_room import ChatMember, ChatRoom, ChatUser, EndReason
from golive.chat.chat_service import ChatService
from golive.chat.message_text import ChatRejected
from golive.http.websocket_wire import direct_writer

__all__ = ["MAX_FRAME_BYTES", "MAX_WIRE_FRAME_BYTES", "chat_route"]

log = logging.getLogger("golive.chat")

MAX_FRAME_BYTES = 4096
# The server's limit for any WebSocket frame (uvicorn ws_max_size): chat needs 4 KiB.
MAX_WIRE_FRAME_BYTES = 64 * 1024
CLOSE_MALFORMED = 1007
CLOSE_TOO_LARGE = 1009
CLOSE_UNKNOWN_CHANNEL = 4404
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_TOO_SLOW = 4408
CLOSE_CHANNEL_DELETED = 4410

_CLOSES = {
    EndReason.CLOSED: (1000, "closed"),
    EndReason.TOO_SLOW: (CLOSE_TOO_SLOW, "too slow: frames were not read"),
    EndReason.CHANNEL_DELETED: (CLOSE_CHANNEL_DELETED, "the channel was deleted"),
}

ResolveUser = Callable[[HTTPConnection], Awaitable[ChatUser | None]]
# Whether the connection may join the channel's chat (a private channel's: its owner, an
# administrator or a playback token holder); a refusal looks like an unknown channel.
MayJoin = Callable[[HTTPConnection, str], Awaitable[bool]]


def chat_route(
    service: ChatService,
    resolve_user: ResolveUser,
    *,
    trusted_origins: Callable[[], Sequence[str]] = tuple,
    may_join: MayJoin | None = None,
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
        if room is not None and may_join is not None and not await may_join(socket, channel):
            room = None
        if room is None:
            await socket.close(CLOSE_UNKNOWN_CHANNEL, "no such channel")
            return
        user = await resolve_user(socket)
        await socket.accept()
        member = room.join(user)
        await member.start(socket.send_text, direct_writer(socket.scope))
        sender = asyncio.create_task(_close_when_dropped(socket, member))
        try:
            await _receive(socket, service, room, member, user)
        finally:
            room.leave(member)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    return WebSocketRoute("/api/v1/channels/{channel}/chat", endpoint)


async def _close_when_dropped(socket: WebSocket, member: ChatMember) -> None:
    """Close the socket of a member the room dropped (it stopped reading)."""
    await member.ready.wait()
    code, reason = _CLOSES[member.end_reason or EndReason.CLOSED]
    with contextlib.suppress(Exception):
        await socket.close(code, reason)


async def _refuse(
    socket: WebSocket, member: ChatMember, error: ChatRejected, code: int, reason: str
) -> None:
    """Answer with ``error``, then close with ``code`` (the connection is not trusted more)."""
    member.push(_error(error, None))
    await asyncio.sleep(0)  # let a pending send flush the error first
    member.closed = True
    with contextlib.suppress(Exception):
        await socket.close(code, reason)


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
    socket: WebSocket,
    service: ChatService,
    room: ChatRoom,
    member: ChatMember,
    user: ChatUser | None,
) -> None:
    while not member.closed:
        try:
            message = await socket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            if message.get("code") in (CLOSE_MALFORMED, CLOSE_TOO_LARGE):
                # The server refused a frame before the app saw it (over ws_max_size).
                log.info(
                    "chat: closed a connection to %s: %s (%s)",
                    room.channel,
                    message.get("reason") or "bad frame",
                    message.get("code"),
                )
            return
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > MAX_FRAME_BYTES or (
            isinstance(data, str) and len(data.encode()) > MAX_FRAME_BYTES
        ):
            log.info("chat: closed a connection to %s that sent an oversized frame", room.channel)
            await _refuse(
                socket,
                member,
                ChatRejected("too_large", "frames are limited to 4 KiB"),
                CLOSE_TOO_LARGE,
                "frame too large",
            )
            return
        raw = data if isinstance(data, str) else data.decode("utf-8", "replace")
        try:
            request = parse_request(raw)
        except MalformedRequest as exc:
            log.info("chat: closed a connection to %s that sent a bad frame: %s", room.channel, exc)
            await _refuse(
                socket,
                member,
                ChatRejected("bad_request", "frames are JSON objects"),
                CLOSE_MALFORMED,
                f"bad frame: {exc}",
            )
            return
        nonce = request.get("nonce")
        try:
            await _act(service, room, member, user, request, nonce)
        except ChatRejected as exc:
            member.push(_error(exc, nonce))


async def _act(
    service: ChatService,
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
        return
    # Authority comes from the channel as it is now (its owner may just have changed).
    await service.channel_changed(room.channel)
    if room.closed:
        raise ChatRejected("channel_deleted", "this channel was deleted")
    if kind == "delete":
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
