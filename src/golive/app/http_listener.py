"""The HTTP origin's listener: its sockets and uvicorn, run inside golive's event loop."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from golive.config import Settings
from golive.http.bounded_http_protocol import bounded_httptools
from golive.http.chat_socket import MAX_WIRE_FRAME_BYTES
from golive.http.websocket_wire import TransportSendRecorder


class EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our loop: signals are ours to handle, not uvicorn's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def embedded_uvicorn(app: ASGIApp, s: Settings) -> EmbeddedUvicorn:
    config = uvicorn.Config(
        TransportSendRecorder(app),
        lifespan="off",
        access_log=False,
        log_level="warning",
        # httptools, with the request head bounded (it has no limits of its own).
        http=bounded_httptools(
            max_head_bytes=s.max_request_head, max_headers=s.max_request_headers
        ),
        # The client address comes from ForwardedClient (trusted_proxies) alone.
        proxy_headers=False,
        ws="websockets-sansio",
        # Chat sends one frame to every member: compressing it once per member would cost
        # more than the fan-out itself, so frames go uncompressed.
        ws_per_message_deflate=False,
        # uvicorn's default is 16 MiB, read from anyone before the app sees a byte.
        ws_max_size=MAX_WIRE_FRAME_BYTES,
        timeout_graceful_shutdown=2,
    )
    return EmbeddedUvicorn(config)


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock
