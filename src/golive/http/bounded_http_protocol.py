"""uvicorn's httptools protocol with bounds on the request head, writing each response's
head and body in one go.

llhttp, under httptools, accepts request lines and headers of any size and number, and
uvicorn keeps them all: a 1 MiB header or 100,000 headers were buffered and answered. This
subclass counts the head's bytes as they arrive and its headers as they are parsed, and
answers 431 and closes the connection at once when either passes its limit, before any
application code runs.

uvicorn writes a response's head as soon as the application sends it, then the body: two
system calls (and two TCP segments) per response. A response whose length is declared has
its body right behind the head, so its head is held until the body comes and both leave in
one ``writelines`` (one writev). Players make about ten requests a second each, so this is
most of the origin's writes.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["bounded_httptools"]

log = logging.getLogger("golive.http")

_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 32\r\n"
    b"connection: close\r\n\r\n"
    b"request header fields too large\n"
)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes = 32 * 1024
    max_headers = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_bytes = 0
        self._header_count = 0
        self._header_bytes = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_head and not self._refused:
            # Still inside a head: the parser holds (part of) it; bound what it may hold.
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(f"request head over {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_head_bytes:
            self._refuse(f"request target over {self.max_head_bytes} bytes")
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4
        if self._header_count > self.max_headers:
            self._refuse(f"more than {self.max_headers} header fields")
            raise _HeadTooLarge
        if self._header_bytes > self.max_head_bytes:
            self._refuse(f"request head over {self.max_head_bytes} bytes")
            raise _HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()
        cycle = self.cycle
        if type(cycle) is RequestResponseCycle:
            # The request's cycle (its task has not run yet): same state, one more behaviour.
            cycle.__class__ = _HeadWithBodyCycle

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser error we caused: the 431 is already on its way
            super().send_400_response(msg)

    def _refuse(self, reason: str) -> None:
        self._refused = True
        client = self.client[0] if self.client else "?"
        log.warning("http: refused a request from %s: %s", client, reason)
        self.transport.write(_REFUSAL)
        self.transport.close()


class _HeldHead:
    """Stands in for the transport while uvicorn writes a response's head: keeps it."""

    def __init__(self) -> None:
        self.head = b""

    def write(self, data: bytes) -> None:
        self.head += data


class _HeadFirst:
    """Stands in for the transport while the body is written: the held head goes first, in
    the same writev, and before the connection is closed."""

    def __init__(self, transport: Any, head: bytes) -> None:
        self.transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        if head:
            self.transport.writelines((head, data))
        else:
            self.transport.write(data)

    def flush(self) -> None:
        head, self.head = self.head, b""
        if head and not self.transport.is_closing():
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class _HeadWithBodyCycle(RequestResponseCycle):
    """A response cycle whose head waits for the body when its length is declared."""

    _held: bytes = b""

    async def send(self, message: ASGISendEvent) -> None:
        transport: Any = self.transport
        if message["type"] == "http.response.start":
            declared = any(
                name.lower() == b"content-length" for name, _ in message.get("headers", ())
            )
            if self.response_started or not declared:
                await super().send(message)
                return
            held = _HeldHead()
            self.transport = held  # type: ignore[assignment]
            try:
                await super().send(message)
            finally:
                self.transport = transport
            self._held = held.head
            return
        if not self._held:
            await super().send(message)
            return
        first = _HeadFirst(transport, self._held)
        self._held = b""
        self.transport = first  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
            first.flush()  # nothing written (HEAD, a disconnect, an error): the head alone


def bounded_httptools(*, max_head_bytes: int, max_headers: int) -> type[HttpToolsProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_head_bytes": max_head_bytes, "max_headers": max_headers},
    )
