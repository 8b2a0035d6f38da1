"""ASGI guard in front of the whole application: request bodies are bounded before anyone
reads them, and API writes without credentials are refused before their body is read.

A declared ``Content-Length`` over the limit is answered 413 at once, unread; a chunked body
is counted as it streams and cut off (413 if nothing was answered yet) when it passes the
limit. The API authenticates only with ``Authorization`` headers and FastAPI reads a body
before it resolves the dependencies that check them, so a write to ``/api/`` without that
header gets its 401 here without its body being read at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestBodyLimit"]

log = logging.getLogger("golive.http")

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestBodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: Callable[[], int], *, api_prefix: str = "/api/"
    ) -> None:
        self.app = app
        self._max_bytes = max_bytes
        self._api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        path = str(scope.get("path", ""))
        limit = self._max_bytes()
        declared = headers.get(b"content-length")
        has_body = b"transfer-encoding" in headers or declared not in (None, b"0")
        api = path.startswith(self._api_prefix)
        if (
            api
            and has_body
            and scope.get("method") not in _READS
            and b"authorization" not in headers
        ):
            await _answer(send, 401, api, "missing_token", "send 'Authorization: Bearer <token>'")
            return
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            log.warning(
                "http: %s %s refused: body of %s bytes",
                scope.get("method"),
                path,
                declared.decode("latin-1"),
            )
            await _answer(send, 413, api, "too_large", _too_large(limit))
            return
        received = 0
        started = False
        answered = False  # by this guard: the application's own answer is dropped

        async def counted_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    log.warning(
                        "http: %s %s refused: streamed body over %d bytes",
                        scope.get("method"),
                        path,
                        limit,
                    )
                    answered = True
                    if not started:
                        await _answer(send, 413, api, "too_large", _too_large(limit))
                    # To the application the client is gone: it stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except Exception:
            if not answered:
                raise
            # The application failed on the body it was refused; the 413 is the answer.


def _too_large(limit: int) -> str:
    return f"request bodies are limited to {limit} bytes"


async def _answer(send: Send, status: int, api: bool, code: str, message: str) -> None:
    if api:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        media_type = b"application/json"
    else:
        body = message.encode()
        media_type = b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", media_type),
        (b"content-length", str(len(body)).encode()),
        # The unread body stays on the connection: it cannot carry another request.
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
