"""Counts HTTP requests by route template, method and status (an ASGI middleware)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Observe = Callable[[str, str, int], None]

_MEDIA_KINDS = (
    (re.compile(r"^/live/[^/]+/index\.m3u8$"), "/live/{channel}/index.m3u8"),
    (re.compile(r"^/live/[^/]+/[^/]+/index\.m3u8$"), "/live/{channel}/{rendition}/index.m3u8"),
    (re.compile(r"^/live/[^/]+/dvr\.m3u8$"), "/live/{channel}/dvr.m3u8"),
    (re.compile(r"^/live/[^/]+/[^/]+/dvr\.m3u8$"), "/live/{channel}/{rendition}/dvr.m3u8"),
    (re.compile(r"^/live/[^/]+/dvr\.mpd$"), "/live/{channel}/dvr.mpd"),
    (re.compile(r"^/live/[^/]+/presence$"), "/live/{channel}/presence"),
    (re.compile(r"/init-\d+\.mp4$"), "/live/{channel}/{rendition}/{token}/init-{n}.mp4"),
    (re.compile(r"/\d+\.\d+\.m4s$"), "/live/{channel}/{rendition}/{token}/{msn}.{part}.m4s"),
    (re.compile(r"/\d+\.m4s$"), "/live/{channel}/{rendition}/{token}/{msn}.m4s"),
)


def route_label(scope: Scope) -> str:
    """A bounded label: the matched route's template, never the raw path."""
    route: Any = scope.get("route")
    if route is None:
        return "unmatched"
    if isinstance(route, Mount):
        # Nothing inside the mounted app named a route (its 404s, FastAPI's own pages).
        return f"{route.path}/*"
    template = str(getattr(route, "path", "") or "")
    if template.startswith("/live/"):
        return media_route_label(scope.get("path", ""))
    return str(scope.get("root_path", "")) + template


def media_route_label(path: str) -> str:
    """The label of a request under ``/live/``: the kind of media, never the raw path."""
    for pattern, label in _MEDIA_KINDS:
        if pattern.search(path):
            return label
    return "/live/other"


class RequestMetrics:
    def __init__(self, app: ASGIApp, observe: Observe) -> None:
        self.app = app
        self._observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self._observe(route_label(scope), scope.get("method", ""), status)
