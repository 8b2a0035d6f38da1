"""Clips on the site: the JSON the watch and VOD pages call to make one, and the clip's page.

- ``POST /web/channels/<name>/clips`` ``{"duration", "start_pdt", "title"}``: from the live
  stream's recorded DVR window (``start_pdt`` omitted: the last ``duration`` seconds);
- ``POST /web/vods/<id>/clips`` ``{"start", "duration", "title"}``: from a VOD;
  both signed in, same-origin JSON with the CSRF header; 201
  ``{"id", "url", "playlist_url", "start", "duration"}``, refusals as
  ``{"error": {"code", "message"}}`` with the status ``golive.clip_requests`` gives.
- ``GET /clips/<id>``: the clip's page (title, channel, creator, length, views, date, the
  player, the MP4 link), rendered on the server with every user text escaped; the player is
  ``clip-page.js`` (hls.js over ``/clip/<id>/index.m3u8``). Each GET of the page counts one
  view (not HEAD, not the media requests: a view is a page view).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from golive.accounts.web_sessions import SessionUser
from golive.clip_requests import Clipper, ClipRefused, ClipRequests
from golive.db.clips import ClipSummary
from golive.db.models import is_valid_channel_name
from golive.http.web.channel_json import signed_in_body
from golive.http.web.page_shell import esc, render_page
from golive.http.web.site_context import WebContext
from golive.http.web.web_responses import json_error, json_ok

__all__ = ["clip_routes"]

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _valid_id(value: str) -> bool:
    return 16 <= len(value) <= 32 and set(value) <= _ID_CHARS


def _created(clip: ClipSummary) -> Response:
    return json_ok(
        {
            "id": clip.id,
            "url": f"/clips/{clip.id}",
            "playlist_url": f"/clip/{clip.id}/index.m3u8",
            "start": clip.start,
            "duration": clip.duration,
        },
        201,
    )


def _length(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _not_found(ctx: WebContext, request: Request, user: SessionUser | None) -> Response:
    return render_page(
        ctx,
        request,
        title="No such clip",
        body='<section class="narrow"><h1>No such clip</h1>'
        "<p>This clip does not exist, or was deleted.</p></section>",
        user=user,
        status=404,
    )


def clip_routes(ctx: WebContext) -> list[BaseRoute]:
    def service() -> ClipRequests | None:
        return ctx.clips

    async def made(
        request: Request,
        unknown: Response | None,
        make: Callable[[ClipRequests, Clipper, dict[str, Any]], Awaitable[ClipSummary]],
    ) -> Response:
        """A clip request from a signed-in viewer: ``unknown`` is the answer when the source
        named in the path cannot exist (checked after the sign-in, as before any lookup)."""
        clips = service()
        if clips is None:
            return json_error(404, "not_found", "this server keeps no recordings")
        got = await signed_in_body(ctx, request)
        if isinstance(got, Response):
            return got
        if unknown is not None:
            return unknown
        user, body = got
        try:
            clip = await make(clips, Clipper(user.id, user.username, user.is_admin), body)
        except ClipRefused as exc:
            return json_error(exc.status, exc.code, exc.message)
        return _created(clip)

    async def from_live(request: Request) -> Response:
        name = request.path_params["name"]
        unknown = (
            None
            if is_valid_channel_name(name)
            else json_error(404, "channel_not_found", "no such channel")
        )
        return await made(
            request,
            unknown,
            lambda clips, clipper, body: clips.from_live(
                clipper,
                name,
                start_pdt=body.get("start_pdt"),
                duration=body.get("duration"),
                title=body.get("title"),
            ),
        )

    async def from_vod(request: Request) -> Response:
        vod_id = request.path_params["vod_id"]
        unknown = None if _valid_id(vod_id) else json_error(404, "vod_not_found", "no such VOD")
        return await made(
            request,
            unknown,
            lambda clips, clipper, body: clips.from_vod(
                clipper,
                vod_id,
                start=body.get("start"),
                duration=body.get("duration"),
                title=body.get("title"),
            ),
        )

    async def page(request: Request) -> Response:
        user = await ctx.sessions.user(request)
        clips = service()
        clip_id = request.path_params["clip_id"]
        clip = await clips.clips.get(clip_id) if clips is not None and _valid_id(clip_id) else None
        if clip is not None and clip.visibility == "private":
            viewer = Clipper(user.id, user.username, user.is_admin) if user else None
            if viewer is None or clips is None or not await clips.may_manage(viewer, clip):
                clip = None
        if clip is None or clips is None:
            return _not_found(ctx, request, user)
        views = clip.views
        if request.method == "GET":
            await clips.clips.count_view(clip.id)
            views += 1
        created = datetime.fromtimestamp(clip.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        cid = esc(clip.id)
        creator = (
            f'clipped by <span class="clip-creator">{esc(clip.creator)}</span>'
            if clip.creator
            else "clipped"
        )
        noun = "view" if views == 1 else "views"
        body = (
            f'<article class="clip-page" data-clip="{cid}">'
            '<div class="player clip-player">'
            f'<video id="video" class="clip-video" muted playsinline controls preload="auto" '
            f'poster="/clip/{cid}/thumbnail.jpg" '
            f'data-src="/clip/{cid}/index.m3u8"></video></div>'
            f'<h1 class="clip-title">{esc(clip.title)}</h1>'
            f'<p class="clip-meta"><a class="clip-channel" href="/{esc(clip.channel)}">'
            f"{esc(clip.channel)}</a> · {creator} · "
            f'<span class="clip-duration">{_length(clip.duration)}</span> · '
            f'<span class="clip-views">{views} {noun}</span> · '
            f'<time datetime="{esc(datetime.fromtimestamp(clip.created_at, UTC).isoformat())}">'
            f"{esc(created)}</time></p>"
            f'<p><a class="button ghost clip-download" href="/clip/{cid}/download.mp4" '
            f'download="{esc(clip.channel)}-clip-{cid}.mp4">Download MP4</a></p>'
            "</article>"
        )
        return render_page(
            ctx,
            request,
            title=clip.title or "Clip",
            body=body,
            user=user,
            scripts=["/static/dist/clip-page.js"],
            page_class="clip",
        )

    return [
        Route("/web/channels/{name}/clips", from_live, methods=["POST"]),
        Route("/web/vods/{vod_id}/clips", from_vod, methods=["POST"]),
        Route("/clips/{clip_id}", page, methods=["GET", "HEAD"]),
    ]
