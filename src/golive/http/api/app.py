"""The API application: FastAPI, mounted at /api/v1 inside the origin's Starlette app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from golive import __version__
from golive.http.api import (
    channels,
    chat_moderation,
    clips,
    playback_tokens,
    restreams,
    streams,
    tokens,
    users,
    vods,
    webhook_deliveries,
)
from golive.http.api.errors import install_error_handlers
from golive.http.api.reference import render_html
from golive.http.api.services import ApiServices

API_PREFIX = "/api/v1"
ROUTERS = (
    channels.router,
    chat_moderation.router,
    streams.router,
    vods.router,
    playback_tokens.router,
    clips.router,
    restreams.router,
    users.router,
    tokens.router,
    webhook_deliveries.router,
)

DESCRIPTION = """\
Manage golive: channels and stream keys, live streams, VODs (recordings of past streams),
users, API tokens and the webhook delivery log.

Every call needs a personal API token: `Authorization: Bearer glt_…`. Scopes nest: `read`
reads, `write` also changes, `admin` (administrators only) also sees and manages every user
and channel; `playback` only issues signed playback URLs (`write` and `admin` include it).
A channel is visible only to its owner and to administrators; someone else's channel
answers 404 like a missing one. Errors are always
`{"error": {"code": "…", "message": "…"}}` with the stable codes listed in docs/api.md.

Moderation today is per stream: stop (kick) the publisher, end the stream, rotate the key.
Moderation: stop (kick) a publisher, end a stream, rotate the key; in the chat, ban, time out
and unban users, appoint moderators and set slow mode (changes reach connected chat clients at
once). Viewer counts are the players seen in the last 30 s (docs/viewers.md).

VODs are public (listed to every token holder), unlisted (readable by id, listed to the
owner) or private (the owner and administrators only; 404 to others). Deleting one removes
its stored segments, then its index; a storage failure answers 503 and keeps the index, so
the delete can be retried. Recordings older than the retention are deleted by the server
(docs/configuration.md: record_retention_days, record_retention_gb; a channel's own
retention_days).

Restream (simulcast): `/channels/{name}/restreams` lists, adds, changes and deletes a
channel's other RTMP/RTMPS destinations; while the channel is live its stream is copied to
each enabled one (no re-encode), each with its `status` (idle, connecting, live, failed with
`reason` and `retry_in`). A destination's key is write-only: only `key_hint` is answered.

A VOD's MP4 download is made in the background from its source rendition (`ffmpeg -c copy`,
no re-encode): `POST /vods/{id}/mp4` (owner or administrator) starts it, or answers the
current job if one is pending, running or ready; poll `GET /vods/{id}/mp4` for `status`
(pending, running, ready, failed) and `progress` (0..1); once ready, `url`
(`/vod/{id}/download.mp4`, the VOD's visibility rules, Range supported) downloads it. A
failed export says why in `error`; POST again to retry.
"""


def create_api(services: ApiServices) -> FastAPI:
    """The FastAPI app; its paths are relative to API_PREFIX, where the origin mounts it."""
    api = FastAPI(
        title="golive API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # our own page below: no third-party scripts from a CDN
        redoc_url=None,
    )
    api.state.services = services
    for router in ROUTERS:
        api.include_router(router)
    install_error_handlers(api)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = build_openapi(api)
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]

    async def docs() -> HTMLResponse:
        return HTMLResponse(render_html(api.openapi()))

    api.add_api_route("/docs", docs, include_in_schema=False)
    return api


def _required_scope(dependant: Dependant) -> str | None:
    for dependency in dependant.dependencies:
        scope = getattr(dependency.call, "required_scope", None)
        if scope is None:
            scope = _required_scope(dependency)
        if scope is not None:
            return str(scope)
    return None


def build_openapi(api: FastAPI) -> dict[str, Any]:
    """The OpenAPI document: every operation behind bearer auth, served from API_PREFIX."""
    schema = get_openapi(
        title=api.title,
        version=api.version,
        description=api.description,
        routes=api.routes,
        servers=[{"url": API_PREFIX}],
    )
    for route in (r for router in ROUTERS for r in router.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        scope = _required_scope(route.dependant)
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            operation["x-required-scope"] = scope or "none"
    return schema
