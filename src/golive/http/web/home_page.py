"""The home page, ``/``: channels live now (thumbnail, title, category, viewers), busiest
first, then the offline ones. home.js hides thumbnails that fail to load and refreshes them."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from golive.db.models import Channel
from golive.http.api.services import LiveStreamInfo
from golive.http.web.channel_actions import listed_for
from golive.http.web.page_shell import avatar, esc, render_page
from golive.http.web.site_context import WebContext

__all__ = ["home_routes"]

OFFLINE_SHOWN = 60


def _viewers(info: LiveStreamInfo) -> str:
    if info.viewers is None:
        return ""
    noun = "viewer" if info.viewers == 1 else "viewers"
    return f'<span class="viewers">{info.viewers} {noun}</span>'


def _live_card(channel: Channel, info: LiveStreamInfo) -> str:
    name = esc(channel.name)
    title = esc(channel.title or channel.name)
    category = f'<span class="category">{esc(channel.category)}</span>' if channel.category else ""
    state = "LIVE" if info.state == "live" else "RECONNECTING"
    return (
        f'<li class="card live" data-channel="{name}"><a class="card-link" href="/{name}">'
        '<div class="thumb-box">'
        f'<img class="thumb" src="/live/{name}/thumbnail.jpg" alt="" width="320" height="180">'
        f'<span class="badge live">{state}</span>{_viewers(info)}</div>'
        f'<div class="card-meta">{avatar(channel.name)}<div class="card-text">'
        f'<strong class="title" title="{title}">{title}</strong>'
        f'<span class="name">{name}</span>{category}</div></div></a></li>'
    )


def _offline_card(channel: Channel) -> str:
    name = esc(channel.name)
    category = f'<span class="category">{esc(channel.category)}</span>' if channel.category else ""
    return (
        f'<li class="card offline" data-channel="{name}"><a class="card-link" href="/{name}">'
        f'<div class="card-meta">{avatar(channel.name, "dim")}<div class="card-text">'
        f'<strong class="name">{name}</strong>'
        f'<span class="title">{esc(channel.title)}</span>{category}</div></div>'
        '<span class="badge offline">Offline</span></a></li>'
    )


def home_routes(ctx: WebContext) -> list[BaseRoute]:
    async def home(request: Request) -> Response:
        user = await ctx.sessions.user(request)
        live = {info.channel: info for info in ctx.live.list()}
        channels = [c for c in await ctx.channels.list() if listed_for(c, user)]
        on = sorted(
            (c for c in channels if c.name in live),
            key=lambda c: (-(live[c.name].viewers or 0), c.name),
        )
        off = [c for c in channels if c.name not in live]
        if on:
            live_html = (
                '<ul class="grid live-grid" id="live-channels">'
                + "".join(_live_card(c, live[c.name]) for c in on)
                + "</ul>"
            )
        else:
            hint = (
                'Start streaming from your <a href="/dashboard">dashboard</a>.'
                if user is not None
                else '<a href="/signup">Sign up</a> to stream or chat.'
            )
            live_html = (
                '<div class="empty-state" id="live-channels-empty">'
                f"<p><strong>Nobody is live right now.</strong></p><p>{hint}</p></div>"
            )
        offline_html = ""
        if off:
            more = len(off) - OFFLINE_SHOWN
            offline_html = (
                '<h2 class="section-title">Offline channels</h2>'
                '<ul class="grid offline-grid" id="offline-channels">'
                + "".join(_offline_card(c) for c in off[:OFFLINE_SHOWN])
                + "</ul>"
                + (f'<p class="muted">and {more} more</p>' if more > 0 else "")
            )
        body = (
            '<h1 class="section-title">Live channels</h1>'
            f'<p class="muted section-sub">{len(on)} live now</p>'
            f"{live_html}{offline_html}"
        )
        return render_page(
            ctx,
            request,
            title="Live channels",
            body=body,
            user=user,
            scripts=["/static/dist/home.js"],
            page_class="home",
        )

    return [Route("/", home, methods=["GET", "HEAD"])]
