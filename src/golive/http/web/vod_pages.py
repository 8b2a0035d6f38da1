"""The VOD pages: a channel's past broadcasts, ``/<channel>/videos``, and the VOD player,
``/videos/<id>``.

**Past broadcasts** lists the channel's ``ready`` VODs, newest first, ``PAGE_SIZE`` a page
(``?before=<epoch seconds>``, the last one's start, for the next page): the public ones for
everyone; the private ones too for the channel's owner and administrators; unlisted ones
never (they are reached by their link only). Each card: thumbnail (``/vod/<id>/thumbnail.jpg``;
videos.js puts a placeholder in when there is none), title, date, duration, views.

**The player page** shows the title, a link to the channel, date, duration and views, the
player (vod-page.js: hls.js over ``/vod/<id>/index.m3u8``), the chat replay beside it and,
for the owner and administrators, "Download MP4". Each GET of the page counts one view (an
in-memory increment that ``db/vod_views.py`` writes in batches; nothing per segment, nothing
for HEAD). Private VODs are a 404 to everyone but the
owner and administrators (``vod_access``).

Every piece of user text goes through ``esc``; no inline script (the CSP forbids it): the
script reads the VOD id from a ``data-`` attribute.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from golive.accounts.web_sessions import SessionUser
from golive.db.models import is_valid_channel_name
from golive.db.recordings import RecordingSummary
from golive.http.web.page_shell import avatar, esc, render_page
from golive.http.web.site_context import WebContext
from golive.http.web.vod_access import seen_vod

__all__ = ["clock_text", "vod_page_routes"]

PAGE_SIZE = 24
LISTED = frozenset({"public"})
LISTED_FOR_OWNER = frozenset({"public", "private"})


# The clip dialog (web/src/clip-dialog.ts finds its parts by these ids, as on the watch page).
CLIP_BUTTON = '<button id="clip-button" class="button small clip" type="button">Clip</button>'
CLIP_DIALOG = (
    '<dialog id="clip-dialog" class="clip-dialog" aria-labelledby="clip-heading">'
    '<form id="clip-form" class="stack" method="dialog">'
    '<h2 id="clip-heading" class="clip-heading">Make a clip</h2>'
    '<label class="clip-length">Length <span class="clip-length-row">'
    '<input id="clip-length" type="range" min="5" max="60" step="1" value="30">'
    '<output id="clip-length-out" for="clip-length">30 s</output></span></label>'
    '<p id="clip-summary" class="clip-summary"></p>'
    '<label>Title (optional) <input id="clip-title" type="text" maxlength="140" '
    'autocomplete="off"></label>'
    '<p id="clip-error" class="form-error" role="alert" hidden></p>'
    '<p id="clip-result" class="notice clip-result" role="status" hidden>Your clip: '
    '<a id="clip-link" href="/"></a></p>'
    '<div class="clip-actions"><button id="clip-cancel" class="button" type="button">Close'
    '</button><button id="clip-submit" class="button primary" type="submit">Create clip'
    "</button></div></form></dialog>"
)


def clock_text(seconds: float) -> str:
    """``1:02:03`` or ``2:03`` (whole seconds)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _date(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return (
        f'<time datetime="{esc(moment.isoformat())}">'
        f"{esc(moment.strftime('%Y-%m-%d %H:%M'))} UTC</time>"
    )


def _views(count: int) -> str:
    return f"{count} view" if count == 1 else f"{count} views"


def _card(vod: RecordingSummary) -> str:
    vid = esc(vod.id)
    title = esc(vod.title or vod.channel)
    badge = '<span class="badge private">Private</span>' if vod.visibility == "private" else ""
    return (
        f'<li class="card vod" data-vod="{vid}"><a class="card-link" href="/videos/{vid}">'
        '<div class="thumb-box">'
        f'<img class="thumb" src="/vod/{vid}/thumbnail.jpg" alt="" width="320" height="180" '
        'loading="lazy">'
        f'<span class="badge duration">{esc(clock_text(vod.duration))}</span>{badge}'
        f'<span class="viewers">{esc(_views(vod.views))}</span></div>'
        '<div class="card-meta"><div class="card-text">'
        f'<strong class="title" title="{title}">{title}</strong>'
        f'<span class="name">{_date(vod.started_at)}</span></div></div></a></li>'
    )


def _not_found(ctx: WebContext, request: Request, user: SessionUser | None, what: str) -> Response:
    return render_page(
        ctx,
        request,
        title="Not found",
        body=f'<div class="empty-state"><p><strong>{esc(what)}</strong></p></div>',
        user=user,
        status=404,
    )


def vod_page_routes(ctx: WebContext) -> list[BaseRoute]:
    site = ctx.vods
    if site is None:
        return []

    async def past_broadcasts(request: Request) -> Response:
        user = await ctx.sessions.user(request)
        name = request.path_params["channel"]
        channel = await ctx.channels.get(name) if is_valid_channel_name(name) else None
        if channel is None:
            return _not_found(ctx, request, user, "There is no channel here.")
        before: datetime | None = None
        raw = request.query_params.get("before")
        if raw:
            try:
                before = datetime.fromtimestamp(float(raw), UTC)
            except (ValueError, OverflowError, OSError):
                before = None
        owner = user is not None and (user.is_admin or channel.owner_id == user.id)
        vods = await site.recordings.vods(
            channel.id,
            visibilities=LISTED_FOR_OWNER if owner else LISTED,
            limit=PAGE_SIZE + 1,
            before=before,
        )
        more = len(vods) > PAGE_SIZE
        vods = vods[:PAGE_SIZE]
        cname = esc(channel.name)
        if vods:
            listing = '<ul class="grid vod-grid" id="vods">' + "".join(map(_card, vods)) + "</ul>"
        else:
            listing = (
                '<div class="empty-state" id="vods-empty"><p><strong>No past broadcasts'
                f"{' here' if before is not None else ' yet'}.</strong></p></div>"
            )
        links = []
        if before is not None:
            links.append(f'<a class="button ghost" href="/{cname}/videos">Newest</a>')
        if more:
            links.append(
                '<a class="button ghost" id="older" '
                f'href="/{cname}/videos?before={vods[-1].started_at:.6f}">Older broadcasts</a>'
            )
        pager = f'<p class="pager">{"".join(links)}</p>' if links else ""
        body = (
            f'<header class="vod-channel">{avatar(channel.name)}<div>'
            f'<h1 class="section-title">Past broadcasts of <a href="/{cname}">{cname}</a></h1>'
            f'<p class="muted section-sub">{esc(channel.title)}</p></div></header>'
            f"{listing}{pager}"
        )
        return render_page(
            ctx,
            request,
            title=f"{channel.name}: past broadcasts",
            body=body,
            user=user,
            scripts=["/static/dist/videos.js"],
            styles=["/static/vod.css"],
            page_class="videos",
        )

    async def video(request: Request) -> Response:
        seen = await seen_vod(ctx, request, request.path_params["id"])
        if seen is None:
            return _not_found(ctx, request, await ctx.sessions.user(request), "No such video.")
        vod = seen.vod
        if request.method == "GET":
            site.views.add(vod.id)
        vid = esc(vod.id)
        cname = esc(vod.channel)
        title = esc(vod.title or vod.channel)
        private = (
            ' <span class="badge private">Private</span>' if vod.visibility == "private" else ""
        )
        download = ""
        if seen.manages:
            download = (
                f'<section class="vod-download" id="vod-download" data-vod="{vid}">'
                '<button class="button primary small" id="mp4-start" type="button">'
                "Download MP4</button>"
                '<progress id="mp4-progress" max="1" value="0" hidden></progress>'
                '<span id="mp4-status" class="muted" role="status"></span>'
                '<a class="button ghost small" id="mp4-link" hidden download>Save the MP4</a>'
                "</section>"
            )
        # Any signed-in viewer may ask for a clip (the channel's clip_permission decides).
        clip_button = clip_dialog = ""
        if seen.user is not None:
            clip_button = CLIP_BUTTON
            clip_dialog = CLIP_DIALOG
        body = (
            f'<div class="vod-layout" id="vod" data-vod="{vid}" '
            f'data-duration="{vod.duration:.3f}">'
            '<div class="vod-stage"><div class="player">'
            '<video id="video" controls playsinline preload="metadata"></video></div>'
            '<div class="controls"><label class="quality">Quality <select id="quality" disabled>'
            f'<option value="-1">Auto</option></select></label>{clip_button}</div>{clip_dialog}'
            f'<section class="vod-about"><h1 class="vod-title">{title}{private}</h1>'
            f'<p class="vod-meta">{avatar(vod.channel)}'
            f'<a class="vod-channel-link" href="/{cname}">{cname}</a>'
            f"<span>{_date(vod.started_at)}</span>"
            f'<span class="vod-duration">{esc(clock_text(vod.duration))}</span>'
            f'<span class="vod-views">{esc(_views(vod.views + (request.method == "GET")))}</span>'
            f'<a href="/{cname}/videos">Past broadcasts</a></p>{download}</section></div>'
            '<aside class="chat replay" aria-label="Chat replay"><header class="chat-head">'
            "<h2>Chat replay</h2></header>"
            '<p id="replay-status" class="chat-status" role="status" hidden></p>'
            '<ul id="replay-messages" class="chat-messages" aria-live="off"></ul></aside></div>'
        )
        return render_page(
            ctx,
            request,
            title=vod.title or vod.channel,
            body=body,
            user=seen.user,
            scripts=["/static/dist/vod-page.js"],
            styles=["/static/player.css", "/static/vod.css"],
            page_class="vod-page",
        )

    return [
        Route("/videos/{id}", video, methods=["GET", "HEAD"]),
        Route("/{channel}/videos", past_broadcasts, methods=["GET", "HEAD"]),
    ]
