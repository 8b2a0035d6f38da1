"""The ASGI application of the origin: media routes, the watch page, static assets."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from golive.http.live_media import LiveMediaEndpoint
from golive.store.live_window import LiveStore

_CHANNEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

ChannelExists = Callable[[str], Awaitable[bool]]


def web_dir() -> Path:
    """Where the built front-end assets live inside the installed package."""
    return Path(str(resources.files("golive") / "web"))


def create_app(store: LiveStore, *, channel_exists: ChannelExists) -> Starlette:
    """Build the HTTP origin around a LiveStore."""
    media = LiveMediaEndpoint(store)
    web = web_dir()
    watch_page = web / "watch.html"

    async def watch(request: Request) -> Response:
        channel = request.path_params["channel"]
        if not _CHANNEL.fullmatch(channel) or not await channel_exists(channel):
            return HTMLResponse(_page("No such channel", "<p>There is no channel here.</p>"), 404)
        return FileResponse(
            watch_page, media_type="text/html", headers={"cache-control": "no-cache"}
        )

    async def home(request: Request) -> Response:
        live = sorted(store.channels())
        items = "".join(
            f'<li><a href="/{html.escape(name)}">{html.escape(name)}</a></li>' for name in live
        )
        body = f"<h1>Live now</h1><ul>{items}</ul>" if live else "<p>Nobody is live.</p>"
        return HTMLResponse(_page("golive", body))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/live/{path:path}", media.handle, methods=["GET", "HEAD", "OPTIONS"]),
        Mount("/static", StaticFiles(directory=web / "static", check_dir=False), name="static"),
        Route("/{channel}", watch, methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="/static/player.css"></head>'
        f"<body><main>{body}</main></body></html>"
    )
