"""WHEP (RFC 9725's playback sibling): ``POST /live/<channel>/whep`` plays a channel over
WebRTC.

The body is an SDP offer (``application/sdp``); the answer is ``201 Created`` with the SDP
answer, which carries every host candidate (no trickle: ``PATCH`` answers 405), and a
``Location`` naming the session, which ``DELETE`` ends. ``OPTIONS`` answers the CORS
preflight of a player on another origin. Private channels are refused as on ``/live/``
(a 404 for whoever may not watch). In a cluster, an offer for a channel another node
serves goes on to that node (http/channel_forwarding.py), and so does its session's
DELETE; the answer's candidates are that node's. The WebRTC side is behind the
``WhepPlayback`` protocol; the composition root wires it in.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from golive.http.channel_forwarding import ChannelForwarder

__all__ = ["WhepAnswer", "WhepEndpoint", "WhepPlayback", "WhepRefusal"]

log = logging.getLogger("golive.http")

_CHANNEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
SDP_TYPE = "application/sdp"
CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, DELETE, PATCH, OPTIONS",
    "access-control-allow-headers": "content-type, authorization, if-match",
    "access-control-expose-headers": "location, link, etag, x-golive-webrtc-source, "
    "x-golive-webrtc-start, x-golive-webrtc-keyframe-interval",
    "access-control-max-age": "86400",
}
NO_STORE = {"cache-control": "no-store"}


@dataclass(frozen=True, slots=True)
class WhepAnswer:
    session: str  # the session's id, its URL's last segment
    sdp: str
    headers: dict[str, str] = field(default_factory=dict)  # e.g. which rendition is sent


class WhepRefusal(Exception):
    """An offer or a request the WebRTC side refuses: the HTTP status and why."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class WhepPlayback(Protocol):
    async def offer(self, channel: str, body: bytes, client: str) -> WhepAnswer:
        """Answer a viewer's offer, or raise WhepRefusal."""

    async def end(self, channel: str, session: str) -> bool:
        """End a session; False when there is no such session on that channel."""

    def serves(self, channel: str) -> bool:
        """Whether ``channel`` is live on this node (else its offers may go on to the node
        that serves it)."""


# Whether the request may not see ``channel`` (private, and not the owner's session).
Hidden = Callable[[Request, str], Awaitable[bool]]


class WhepEndpoint:
    def __init__(
        self,
        playback: WhepPlayback,
        hidden: Hidden,
        forwarder: Callable[[], ChannelForwarder | None] = lambda: None,
    ) -> None:
        self._playback = playback
        self._hidden = hidden
        self._forwarder = forwarder  # in a cluster: to the node serving a channel

    async def offer(self, request: Request) -> Response:
        """``/live/<channel>/whep``: POST an offer, OPTIONS for the preflight."""
        return await self.answer(request, checked=False)

    async def answer(self, request: Request, *, checked: bool) -> Response:
        """The offer's answer; ``checked``: a playback token already opened the channel."""
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={**CORS, "allow": "POST, OPTIONS"})
        channel = request.path_params["channel"]
        client = request.client.host if request.client is not None else "?"
        if not _CHANNEL.fullmatch(channel) or (
            not checked and await self._hidden(request, channel)
        ):
            return _text(404, "no such live channel")
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != SDP_TYPE:
            log.warning("WHEP offer for %s from %s is not application/sdp", channel, client)
            return _text(415, "a WHEP offer is an SDP document: Content-Type: application/sdp")
        body = await request.body()
        if not self._playback.serves(channel):
            elsewhere = await self._forward(request, channel, f"/live/{channel}/whep", body)
            if elsewhere is not None:
                return elsewhere
        try:
            answer = await self._playback.offer(channel, body, client)
        except WhepRefusal as refused:
            log.warning(
                "WHEP offer for %s from %s refused (%d): %s",
                channel,
                client,
                refused.status,
                refused.message,
            )
            headers = {}
            if refused.retry_after is not None:
                headers["retry-after"] = str(refused.retry_after)
            return _text(refused.status, refused.message, headers)
        location = f"/live/{channel}/whep/{answer.session}"
        return Response(
            answer.sdp,
            status_code=201,
            media_type=SDP_TYPE,
            headers={**CORS, **NO_STORE, "location": location, **answer.headers},
        )

    async def session(self, request: Request) -> Response:
        """``/live/<channel>/whep/<session>``: DELETE ends it; PATCH (trickle ICE) is not
        supported, the answer has every candidate."""
        channel = request.path_params["channel"]
        session = request.path_params["session"]
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={**CORS, "allow": "DELETE, OPTIONS"})
        if request.method == "PATCH":
            return _text(
                405,
                "trickle ICE is not supported: the answer carries every candidate",
                {"allow": "DELETE, OPTIONS"},
            )
        if not (_CHANNEL.fullmatch(channel) and _SESSION.fullmatch(session)):
            return _text(404, "no such WHEP session")
        if not await self._playback.end(channel, session):
            path = f"/live/{channel}/whep/{session}"
            elsewhere = await self._forward(request, channel, path, None, sign=False)
            return elsewhere or _text(404, "no such WHEP session")
        return Response(status_code=200, headers={**CORS, **NO_STORE})

    async def _forward(
        self, request: Request, channel: str, path: str, body: bytes | None, *, sign: bool = True
    ) -> Response | None:
        forwarder = self._forwarder()
        if forwarder is None:
            return None
        answer = await forwarder.forward(
            channel,
            request.method,
            path,
            {},
            request.scope.get("headers", []),
            request.client.host if request.client is not None else "",
            body=body,
            sign=sign,
        )
        if answer is None:
            return None
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in answer.headers
        }
        return StreamingResponse(answer.body, status_code=answer.status, headers=headers)


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(
        message + "\n", status, headers={**CORS, **NO_STORE, **(headers or {})}
    )
