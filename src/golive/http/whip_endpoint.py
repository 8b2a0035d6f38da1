"""``/live/whip``: WHIP publishing (RFC 9725) over HTTP; the media side is ingest's.

``POST /live/whip`` with an ``application/sdp`` offer and the stream key as the bearer
token answers 201 with the SDP answer and the session's ``Location``; ``DELETE`` on that
location ends the publish; ``OPTIONS`` answers CORS preflights (browser publishers) and
says what POST takes; ``PATCH`` (trickle ICE, restarts) is not supported: 405, as RFC 9725
4.4 allows. http/ may not import ingest/: the publishing side is the ``WhipPublishing``
protocol, which app/whip_ingest.py implements over ingest/whip.

These paths are answered before the media fast path, which would take ``/live/whip`` for
a channel's media.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Protocol

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["WHIP_PATH", "WhipEndpoint", "WhipFirst", "WhipPublishing", "WhipReply"]

log = logging.getLogger("golive.http")

WHIP_PATH = "/live/whip"
MAX_OFFER_BYTES = 64 * 1024
_SESSION = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CORS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "location, etag, link, accept-post",
}
_PREFLIGHT = {
    **_CORS,
    "access-control-allow-methods": "POST, DELETE, OPTIONS",
    "access-control-allow-headers": "authorization, content-type, if-match",
    "access-control-max-age": "86400",
    "accept-post": "application/sdp",
}


class WhipReply(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def session_id(self) -> str | None: ...


class WhipPublishing(Protocol):
    """The ingest side (ingest/whip's WhipSessions, structurally)."""

    async def publish(self, offer: bytes, bearer: str | None, remote_addr: str) -> WhipReply: ...

    def end(self, session_id: str) -> bool: ...


class WhipEndpoint:
    def __init__(self, publishing: WhipPublishing) -> None:
        self._publishing = publishing

    def routes(self) -> list[BaseRoute]:
        return [
            Route(WHIP_PATH, self.endpoint, methods=["POST", "OPTIONS", "PATCH"]),
            Route(
                WHIP_PATH + "/{session}",
                self.session,
                methods=["DELETE", "OPTIONS", "PATCH"],
            ),
        ]

    async def endpoint(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_PREFLIGHT)
        if request.method == "PATCH":
            return _text(405, "WHIP sessions are at /live/whip/<session>\n", allow="POST, OPTIONS")
        client = _client(request)
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/sdp":
            log.warning("WHIP offer from %s refused: content-type %r", client, content_type)
            return _text(415, "a WHIP offer is Content-Type: application/sdp\n")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_OFFER_BYTES:
                log.warning("WHIP offer from %s refused: over %d bytes", client, MAX_OFFER_BYTES)
                return _text(413, f"SDP offer over {MAX_OFFER_BYTES} bytes\n")
        reply = await self._publishing.publish(bytes(body), _bearer(request), client)
        headers = {**_CORS, **reply.headers}
        if reply.session_id is not None:
            headers["location"] = f"{WHIP_PATH}/{reply.session_id}"
        return Response(reply.body, status_code=reply.status, headers=headers)

    async def session(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=_PREFLIGHT)
        if request.method == "PATCH":
            # Trickle ICE and ICE restarts are optional (RFC 9725 4.4): the answer already
            # has every candidate.
            return _text(405, "trickle ICE and ICE restarts are not supported\n", allow="DELETE")
        session_id = request.path_params["session"]
        if not _SESSION.fullmatch(session_id) or not self._publishing.end(session_id):
            log.warning("WHIP DELETE from %s: no such session", _client(request))
            return _text(404, "no such WHIP session\n")
        # A body: ffmpeg's WHIP muxer reads one from the DELETE's answer (an empty 200 makes
        # it report a failure).
        return _text(200, "publish ended\n")


class WhipFirst:
    """Sends ``/live/whip`` requests to the full application, past the media fast path."""

    def __init__(self, fast: ASGIApp, site: ASGIApp) -> None:
        self._fast = fast
        self._site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == WHIP_PATH or path.startswith(WHIP_PATH + "/"):
            await self._site(scope, receive, send)
        else:
            await self._fast(scope, receive, send)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _client(request: Request) -> str:
    # ForwardedClient (outside the routes) has already put the trusted client address here.
    peer = request.client
    if peer is None:
        return "unknown"
    return f"{peer.host}:{peer.port}"


def _text(status: int, text: str, *, allow: str | None = None) -> Response:
    headers = dict(_CORS)
    if allow is not None:
        headers["allow"] = allow
    return PlainTextResponse(text, status, headers=headers)
