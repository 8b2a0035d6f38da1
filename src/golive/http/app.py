"""The ASGI application of the origin: media routes, the watch page, static assets, the API,
metrics and health checks."""

from __future__ import annotations

import hmac
import html
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from golive.http.channel_access import ChannelAccess
from golive.http.client_address import TrustedProxies
from golive.http.clip_media import ClipMediaEndpoint
from golive.http.forwarded_client import ForwardedClient
from golive.http.live_media import LiveMediaEndpoint
from golive.http.media_fast_path import MediaFastPath
from golive.http.playback_gate import REFUSED_CACHE, PlaybackGate, split
from golive.http.request_body_limit import RequestBodyLimit
from golive.http.request_metrics import Observe, RequestMetrics
from golive.http.response_security_headers import ResponseSecurityHeaders
from golive.http.thumbnails import ThumbnailEndpoint
from golive.http.vod_media import VodMediaEndpoint
from golive.http.web import security_headers
from golive.http.whep_endpoint import WhepEndpoint, WhepPlayback
from golive.http.whip_endpoint import WhipEndpoint, WhipFirst, WhipPublishing
from golive.metrics.server_metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from golive.metrics.server_metrics import ServerMetrics
from golive.store.live_window import LiveStore

log = logging.getLogger("golive.http")

_CHANNEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

ChannelExists = Callable[[str], Awaitable[bool]]
# Whether the request's browser session may watch a private channel (its owner, an admin).
MayWatchChannel = Callable[[Request, str], Awaitable[bool]]
# Readiness: (ready, reasons not ready).
ReadinessCheck = Callable[[], Awaitable[tuple[bool, list[str]]]]
API_PREFIX = "/api/v1"
DEFAULT_MAX_REQUEST_BODY = 1024 * 1024


def web_dir() -> Path:
    """Where the built front-end assets live inside the installed package."""
    return Path(str(resources.files("golive") / "web"))


def create_app(
    store: LiveStore,
    *,
    channel_exists: ChannelExists,
    api: ASGIApp | None = None,
    metrics: ServerMetrics | None = None,
    readiness: ReadinessCheck | None = None,
    media: LiveMediaEndpoint | None = None,
    metrics_token: Callable[[], str] = lambda: "",
    pages: Sequence[BaseRoute] = (),
    thumbnails: ThumbnailEndpoint | None = None,
    vod: VodMediaEndpoint | None = None,
    clip: ClipMediaEndpoint | None = None,
    trusted_proxies: Callable[[], TrustedProxies] = TrustedProxies,
    max_request_body: Callable[[], int] = lambda: DEFAULT_MAX_REQUEST_BODY,
    access: ChannelAccess | None = None,
    gate: PlaybackGate | None = None,
    may_watch_channel: MayWatchChannel | None = None,
    whep: WhepPlayback | None = None,
    whip: WhipPublishing | None = None,
) -> ASGIApp:
    """Build the HTTP origin around a LiveStore; recorded media (``vod``), the API, metrics
    and the site's pages
    (home, accounts, dashboard, chat socket: http/web/, http/chat_socket.py) are
    optional parts. Media requests take a lean path in front of it (http/media_fast_path.py)."""
    media = media or LiveMediaEndpoint(store)
    web = web_dir()
    watch_page = web / "watch.html"

    async def hidden(request: Request, channel: str) -> bool:
        """Whether ``channel`` is private and the request's session may not watch it."""
        if access is None or not access.is_private(channel):
            return False
        return may_watch_channel is None or not await may_watch_channel(request, channel)

    async def watch(request: Request) -> Response:
        channel = request.path_params["channel"]
        if (
            not _CHANNEL.fullmatch(channel)
            or not await channel_exists(channel)
            or await hidden(request, channel)
        ):
            return HTMLResponse(_page("No such channel", "<p>There is no channel here.</p>"), 404)
        return FileResponse(
            watch_page,
            media_type="text/html",
            headers={**security_headers(), "cache-control": "no-cache"},
        )

    async def home(request: Request) -> Response:
        live = sorted(c for c in store.channels() if access is None or access.is_listed(c))
        items = "".join(
            f'<li><a href="/{html.escape(name)}">{html.escape(name)}</a></li>' for name in live
        )
        body = f"<h1>Live now</h1><ul>{items}</ul>" if live else "<p>Nobody is live.</p>"
        return HTMLResponse(_page("golive", body))

    async def healthz(request: Request) -> Response:
        # Liveness: the event loop answers. Readiness is /readyz.
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready, problems = (True, []) if readiness is None else await readiness()
        body = {"status": "ready" if ready else "not ready", "problems": problems}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_page(request: Request) -> Response:
        assert metrics is not None
        token = metrics_token()
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                log.warning("/metrics refused: missing or wrong bearer token")
                return PlainTextResponse(
                    "metrics need a bearer token", 401, headers={"www-authenticate": "Bearer"}
                )
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def live_media(request: Request) -> Response:
        """``/live/...`` through the full stack: private channels for their owner only."""
        channel = request.url.path.split("/", 3)[2]
        if await hidden(request, channel):
            return _not_found()
        response = await media.handle(request)
        return _private(response) if access is not None and access.is_private(channel) else response

    async def live_thumbnail(request: Request) -> Response:
        assert thumbnails is not None
        channel = request.path_params["channel"]
        if await hidden(request, channel):
            return _not_found()
        response = await thumbnails.handle(request)
        return _private(response) if access is not None and access.is_private(channel) else response

    async def playback(request: Request) -> Response:
        """``/p/<token>/...`` requests the lean path leaves here: VODs, clips, thumbnails."""
        raw = request.scope.get("raw_path")
        found = split(raw.decode("latin-1").partition("?")[0] if raw else request.url.path)
        if found is None or gate is None:
            return _not_found()
        client = request.client.host if request.client is not None else ""
        checked = gate.check(found, client)
        if isinstance(checked, str):
            return PlainTextResponse(
                checked + "\n",
                403,
                headers={"cache-control": REFUSED_CACHE, "access-control-allow-origin": "*"},
            )
        capped = gate.cache_control(IMMUTABLE_CACHE, checked)
        if found.rest.startswith("/vod/"):
            if vod is None:
                return _not_found()
            return await vod.serve(request, found.rest, capped)
        if found.rest.startswith("/clip/"):
            if clip is None:
                return _not_found()
            return await clip.serve(request, found.rest, capped)
        if found.rest.endswith("/thumbnail.jpg"):
            thumb = None if thumbnails is None else await thumbnails.thumbnail(found.resource)
            if thumb is None or found.rest != f"/live/{found.resource}/thumbnail.jpg":
                return _not_found()
            assert thumbnails is not None
            age = gate.cache_control(f"max-age={thumbnails.refresh:.0f}", checked)
            return Response(thumb, media_type="image/jpeg", headers={"cache-control": age})
        response = await media.handle(request, found.rest)
        plain = response.headers.get("cache-control", "")
        response.headers["cache-control"] = gate.cache_control(plain, checked)
        return response

    whep_endpoint = (
        WhepEndpoint(whep, hidden, lambda: media.forwarder) if whep is not None else None
    )
    routes: list[BaseRoute] = [*pages]
    if not any(isinstance(r, Route) and r.path == "/" for r in pages):
        routes.append(Route("/", home, methods=["GET", "HEAD"]))
    routes += [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        *(
            [Route("/live/{channel}/thumbnail.jpg", live_thumbnail, methods=["GET", "HEAD"])]
            if thumbnails is not None
            else []
        ),
        *(_whep_routes(whep_endpoint, gate) if whep_endpoint is not None else []),
        # WHIP publishing (ingest through app/whip_ingest.py), before the channels' media.
        *(WhipEndpoint(whip).routes() if whip is not None else []),
        Route("/live/{path:path}", live_media, methods=["GET", "HEAD", "OPTIONS", "POST"]),
        Route("/p/{token}/{path:path}", playback, methods=["GET", "HEAD", "OPTIONS"]),
        *(
            [Route("/vod/{path:path}", vod.handle, methods=["GET", "HEAD", "OPTIONS"])]
            if vod is not None
            else []
        ),
        *(
            [Route("/clip/{path:path}", clip.handle, methods=["GET", "HEAD", "OPTIONS"])]
            if clip is not None
            else []
        ),
        Mount("/static", StaticFiles(directory=web / "static", check_dir=False), name="static"),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", metrics_page, methods=["GET", "HEAD"]))
    if api is not None:
        routes.append(Mount(API_PREFIX, app=api))
    routes.append(Route("/{channel}", watch, methods=["GET", "HEAD"]))
    middleware = [
        # Outermost first: every answer (static files, media, errors, the guard's own 413)
        # carries the security headers; the client address is decided before anything uses it.
        Middleware(ResponseSecurityHeaders, headers=security_headers()),
        Middleware(ForwardedClient, trusted=trusted_proxies),
    ]
    count_request: Observe | None = None
    if metrics is not None:
        counter = metrics.http_requests

        def count_request(route: str, method: str, status: int) -> None:
            counter.labels(route, method, status).inc()

        middleware.append(Middleware(RequestMetrics, observe=count_request))

    # Innermost of ours: bodies are bounded, and refused unauthenticated API writes counted.
    middleware.append(
        Middleware(RequestBodyLimit, max_bytes=max_request_body, api_prefix=API_PREFIX + "/")
    )

    async def not_routed(request: Request, exc: Exception) -> Response:
        # Paths no route matches at all (e.g. with control characters, which the routes'
        # patterns never match): API paths still answer in the API's error shape.
        status = getattr(exc, "status_code", 404)
        if request.url.path.startswith(API_PREFIX + "/"):
            code = "method_not_allowed" if status == 405 else "not_found"
            return JSONResponse(
                {"error": {"code": code, "message": "no such API endpoint"}}, status_code=status
            )
        return PlainTextResponse("Method Not Allowed" if status == 405 else "Not Found", status)

    site = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_routed, 405: not_routed},
    )
    fast = MediaFastPath(
        site,
        media,
        security_headers=security_headers(),
        trusted_proxies=trusted_proxies,
        observe=count_request,
        access=access,
        gate=gate,
    )
    # WHIP's POST and DELETE are the site's (RequestBodyLimit, routes), not media requests.
    return fast if whip is None else WhipFirst(fast, site)


IMMUTABLE_CACHE = "public, max-age=31536000, immutable"


def _whep_routes(whep: WhepEndpoint, gate: PlaybackGate | None) -> list[BaseRoute]:
    """WebRTC playback, before ``/live/{path}`` and ``/p/{token}/{path}`` (which answer GETs
    on the same paths); ``/p/<token>/live/<channel>/whep`` for private channels' tokens."""

    async def with_token(request: Request) -> Response:
        if request.method == "OPTIONS":
            return await whep.offer(request)
        raw = request.scope.get("raw_path")
        found = split(raw.decode("latin-1").partition("?")[0] if raw else request.url.path)
        if found is None or gate is None or found.rest != f"/live/{found.resource}/whep":
            return _not_found()
        client = request.client.host if request.client is not None else ""
        checked = gate.check(found, client)
        if isinstance(checked, str):
            return PlainTextResponse(
                checked + "\n",
                403,
                headers={"cache-control": REFUSED_CACHE, "access-control-allow-origin": "*"},
            )
        return await whep.answer(request, checked=True)

    return [
        Route("/p/{token}/live/{channel}/whep", with_token, methods=["POST", "OPTIONS"]),
        Route("/live/{channel}/whep", whep.offer, methods=["POST", "OPTIONS"]),
        Route(
            "/live/{channel}/whep/{session}",
            whep.session,
            methods=["DELETE", "PATCH", "OPTIONS"],
        ),
    ]


def _not_found() -> Response:
    return PlainTextResponse("not found\n", 404, headers={"cache-control": "no-cache"})


def _private(response: Response) -> Response:
    """An answer for the owner's session: kept by their browser, never by a shared cache."""
    plain = response.headers.get("cache-control", "")
    if plain.startswith("public"):
        response.headers["cache-control"] = "private" + plain[len("public") :]
    elif not plain.startswith(("private", "no-store")):
        response.headers["cache-control"] = "private, " + plain if plain else "private"
    return response


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        '<link rel="stylesheet" href="/static/site.css"></head>'
        f"<body><main>{body}</main></body></html>"
    )
