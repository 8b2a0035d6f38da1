"""A direct path from the chat room to a WebSocket's transport, under ASGI.

A room of 10,000 members sends every batch to every member. Through ASGI each send costs a
Starlette wrapper, uvicorn's message dispatch and a frame serialised anew by the websockets
protocol, per member; the same frame, encoded once (chat/websocket_frame.py), can be
written to each member's transport directly. ``TransportSendRecorder`` sits outside the
whole app and keeps the server's own ``send`` in the scope, so a chat socket can find
uvicorn's connection behind it. When that is not uvicorn's websockets-sansio connection
(another server, a test client) there is no direct path and frames go through ASGI as usual.

Frames written directly are plain text frames, which remain valid when permessage-deflate
was negotiated (RSV1 unset means uncompressed, RFC 7692 section 6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.protocol import Protocol, State

__all__ = ["MAX_BUFFERED_BYTES", "TransportSendRecorder", "WireWriter", "wire_writer"]

SCOPE_KEY = "golive.server_send"
# A member whose socket holds more unsent bytes than this has stopped reading.
MAX_BUFFERED_BYTES = 1 << 20

WireWriter = Callable[[bytes], bool]


class TransportSendRecorder:
    """Outermost ASGI layer: records the server's ``send`` of WebSocket connections."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[SCOPE_KEY] = send
        await self.app(scope, receive, send)


def wire_writer(scope: Scope) -> WireWriter | None:
    """A function writing encoded frames straight to the connection, or None if unavailable.

    It returns False when the connection is no longer open (the caller falls back to ASGI,
    which reports the closed socket) and raises BufferError when the peer stopped reading.
    """
    connection: Any = getattr(scope.get(SCOPE_KEY), "__self__", None)
    transport = getattr(connection, "transport", None)
    protocol = getattr(connection, "conn", None)
    if transport is None or not isinstance(protocol, Protocol):
        return None

    # Bound once: this runs for every member of a room on every batch.
    is_closing = transport.is_closing
    buffered = transport.get_write_buffer_size
    write_bytes = transport.write
    has_close_sent = hasattr(connection, "close_sent")
    opened = State.OPEN

    def write(frame: bytes) -> bool:
        if (
            protocol.state is not opened
            or (has_close_sent and connection.close_sent)
            or is_closing()
        ):
            return False
        if buffered() > MAX_BUFFERED_BYTES:
            raise BufferError("the peer stopped reading")
        write_bytes(frame)
        return True

    return write
