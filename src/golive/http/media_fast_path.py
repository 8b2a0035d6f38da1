"""The lean path for media requests: ``/live/`` answered without Starlette's routing and
middleware, with everything they would have added.

Players ask for a playlist and a part about five times a second each, so most of the origin's
requests are these; through the full stack each one was matched against every route and
passed through four middleware layers, which cost more than answering it. This outermost
layer answers them straight from the LiveMediaEndpoint with the same result:

- the site's security headers (ResponseSecurityHeaders), encoded once;
- the client address decided from ``trusted_proxies`` (ForwardedClient), for viewer counts;
- the request counted under the same route label (RequestMetrics);
- bodies: a request that declares one goes through the full stack and its RequestBodyLimit,
  as does any method other than GET, HEAD and OPTIONS, and ``thumbnail.jpg``.

Private channels (http/channel_access.py, an in-memory map): their ``/live/`` requests go
through the full stack, which checks the owner's browser session; ``/p/<token>/live/...``
is answered here too, after one HMAC (http/playback_gate.py), with a Cache-Control the
token outlives.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from golive.accounts.playback_tokens import PlaybackClaim
from golive.http.channel_access import ChannelAccess
from golive.http.client_address import TrustedProxies, client_address
from golive.http.live_media import LiveMediaEndpoint, MediaAnswer
from golive.http.playback_gate import REFUSED_CACHE, PlaybackGate, split
from golive.http.request_metrics import Observe, media_route_label

__all__ = ["MediaFastPath"]

# POST: a watch page's presence beacon (LiveMediaEndpoint refuses it anywhere else).
_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST"})
_NO_QUERY: dict[str, str] = {}


class MediaFastPath:
    def __init__(
        self,
        app: ASGIApp,
        media: LiveMediaEndpoint,
        *,
        security_headers: dict[str, str],
        trusted_proxies: Callable[[], TrustedProxies],
        observe: Observe | None = None,
        access: ChannelAccess | None = None,
        gate: PlaybackGate | None = None,
    ) -> None:
        self.app = app
        self._access = access
        self._gate = gate
        self._media = media
        self._trusted = trusted_proxies
        self._observe = observe
        # Caching is each answer's business, as in ResponseSecurityHeaders; a media answer
        # sets none of the security headers itself, so they are simply appended.
        self._security = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in security_headers.items()
            if name.lower() != "cache-control"
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        tokenised = path.startswith("/p/")
        if (
            not (path.startswith("/live/") or tokenised)
            or method not in _METHODS
            or path.endswith("/thumbnail.jpg")
            or scope.get("root_path")
            # WHEP's CORS preflight (http/whep_endpoint.py) names other methods than media's.
            or (method == "OPTIONS" and (path.endswith("/whep") or "/whep/" in path))
        ):
            await self.app(scope, receive, send)
            return
        label_prefix = ""
        claim: PlaybackClaim | None = None
        found = None
        if tokenised:
            # The path as sent: no percent-decoding may turn it into another resource.
            raw: bytes | None = scope.get("raw_path")
            found = split(raw.decode("latin-1").partition("?")[0] if raw else path)
            if found is None or self._gate is None or not found.rest.startswith("/live/"):
                await self.app(scope, receive, send)  # a 404, a VOD or a clip
                return
            label_prefix = "/p/{token}"
            path = found.rest
        elif self._access is not None and self._access.is_private(path.split("/", 3)[2]):
            await self.app(scope, receive, send)  # the owner's session is checked there
            return
        headers = scope["headers"]
        for name, value in headers:
            if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                await self.app(scope, receive, send)  # a body: RequestBodyLimit's business
                return
        peer = scope.get("client")
        client = ""
        if peer:
            client = client_address(str(peer[0]), headers, self._trusted())
        raw_query: bytes = scope.get("query_string", b"")
        query = (
            dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
            if raw_query
            else _NO_QUERY
        )
        status = 500
        try:
            if tokenised:
                assert self._gate is not None and found is not None
                checked = self._gate.check(found, client)
                if isinstance(checked, str):
                    answer = _refused(checked)
                else:
                    claim = checked
                    answer = await self._media.answer(method, path, query, headers, client)
            else:
                answer = await self._media.answer(method, path, query, headers, client)
            status = answer.status
            response_headers = answer.headers + self._security
            if claim is not None:
                response_headers = self._capped(response_headers, claim)
            if answer.stream is None:
                body = answer.body
                if status != 204:
                    response_headers.append((b"content-length", str(len(body)).encode()))
                await send(
                    {"type": "http.response.start", "status": status, "headers": response_headers}
                )
                await send({"type": "http.response.body", "body": body})
            else:
                await send(
                    {"type": "http.response.start", "status": status, "headers": response_headers}
                )
                async for chunk in answer.stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
        finally:
            if self._observe is not None:
                self._observe(label_prefix + media_route_label(path), method, status)

    def _capped(
        self, headers: list[tuple[bytes, bytes]], claim: PlaybackClaim
    ) -> list[tuple[bytes, bytes]]:
        assert self._gate is not None
        out = []
        for name, value in headers:
            if name == b"cache-control":
                capped = self._gate.cache_control(value.decode("latin-1"), claim)
                value = capped.encode("latin-1")
            out.append((name, value))
        return out


def _refused(reason: str) -> MediaAnswer:
    return MediaAnswer(
        403,
        [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"access-control-allow-origin", b"*"),
            (b"cache-control", REFUSED_CACHE.encode()),
        ],
        (reason + "\n").encode(),
    )
