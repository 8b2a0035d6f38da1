"""A direct path from the chat room to a WebSocket's transport, under uvicorn: the one place
that touches uvicorn's internals, and why.

A room of 10,000 members sends every batch to every member. Through ASGI each send costs a
Starlette wrapper, uvicorn's message dispatch and a frame serialised anew by the websockets
protocol, per member; the same frame, encoded once (websocket_text_frame.py), can be
written to each member's transport directly. ASGI offers no public route to a connection's
transport (no extension for pre-encoded frames), so this adapter reaches uvicorn's
websockets-sansio protocol object through the ``send`` it gives the app (a bound method):
its ``transport``, ``conn`` (the websockets ``Protocol``) and ``close_sent`` attributes.

That access is guarded: only the uvicorn versions checked (``CHECKED_UVICORN``) and only its
``WebSocketsSansIOProtocol`` with the attributes above, at its websockets ``State.OPEN``. Any
other server, version or shape (a test client, a newer uvicorn not yet checked) gets None from
``direct_writer`` and frames go through plain ASGI sends, as correct, only slower (logged once).

``TransportSendRecorder`` sits outside the whole app and keeps the server's own ``send`` in the
scope, since Starlette and middleware wrap the ``send`` the endpoint sees. Frames written
directly are plain text frames, which remain valid when permessage-deflate was negotiated
(RSV1 unset means uncompressed, RFC 7692 section 6).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.protocol import Protocol, State

from golive.chat.shared_text import SharedText
from golive.http.websocket_text_frame import encode_text_frame

__all__ = [
    "CHECKED_UVICORN",
    "MAX_BUFFERED_BYTES",
    "DirectWriter",
    "TransportSendRecorder",
    "direct_writer",
]

log = logging.getLogger("golive.chat")

SCOPE_KEY = "golive.server_send"
# A member whose socket holds more unsent bytes than this has stopped reading.
MAX_BUFFERED_BYTES = 1 << 20
# uvicorn releases whose websockets-sansio protocol was read for the attributes used here,
# from (inclusive) to (exclusive), as (major, minor). After an upgrade, read
# uvicorn/protocols/websockets/websockets_sansio_impl.py again and widen this; until then
# chat goes through ASGI and tests/e2e/test_chat_socket.py's direct-write test fails.
CHECKED_UVICORN = ((0, 55), (0, 56))

DirectWriter = Callable[[SharedText], bool]


class TransportSendRecorder:
    """Outermost ASGI layer: records the server's ``send`` of WebSocket connections."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[SCOPE_KEY] = send
        await self.app(scope, receive, send)


@functools.cache
def _uvicorn_protocol_class() -> type | None:
    """uvicorn's sansio WebSocket protocol class when this uvicorn was checked, else None."""
    try:
        import uvicorn
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
    except ImportError:
        return None
    try:
        version = tuple(int(part) for part in uvicorn.__version__.split(".")[:2])
    except ValueError:
        return None
    low, high = CHECKED_UVICORN
    if not low <= version < high:
        log.warning(
            "chat: uvicorn %s is not one checked for direct writes; frames go through ASGI",
            uvicorn.__version__,
        )
        return None
    return WebSocketsSansIOProtocol


def direct_writer(scope: Scope) -> DirectWriter | None:
    """A function writing a room's text straight to the connection as one text frame, or
    None when there is no checked direct path (frames then go through ASGI).

    It returns False when the connection is no longer open (the caller falls back to ASGI,
    which reports the closed socket) and raises BufferError when the peer stopped reading.
    """
    protocol_class = _uvicorn_protocol_class()
    if protocol_class is None:
        return None
    connection: Any = getattr(scope.get(SCOPE_KEY), "__self__", None)
    if not isinstance(connection, protocol_class):
        return None
    connection = cast(Any, connection)  # the attributes read below are checked one by one
    transport = getattr(connection, "transport", None)
    protocol = getattr(connection, "conn", None)
    if (
        transport is None
        or not isinstance(protocol, Protocol)
        or not isinstance(getattr(connection, "close_sent", None), bool)
    ):
        return None

    # Bound once: this runs for every member of a room on every batch.
    is_closing = transport.is_closing
    buffered = transport.get_write_buffer_size
    write_bytes = transport.write
    opened = State.OPEN
    encode = encode_text_frame

    def write(text: SharedText) -> bool:
        if protocol.state is not opened or connection.close_sent or is_closing():
            return False
        if buffered() > MAX_BUFFERED_BYTES:
            raise BufferError("the peer stopped reading")
        write_bytes(text.encoded(encode))
        return True

    return write
