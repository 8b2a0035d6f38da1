"""The streamer's dashboard, ``/dashboard``: their channels with live status and stream health
(refreshed by dashboard.js from ``/web/channels/<name>/health``), the ingest server and stream
key (a new key is shown once, right after it is made; rotating it disconnects the live
publisher), a "Stop stream" button while live, title and category, and creating a channel. The forms work without JavaScript; dashboard.js sends the same changes as JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from golive.accounts.csrf import CSRF_FIELD
from golive.accounts.web_sessions import SessionUser
from golive.db.models import Channel
from golive.http.api.services import LiveStreamInfo
from golive.http.web.channel_actions import (
    CATEGORY_LENGTH,
    TITLE_LENGTH,
    ChannelActionError,
    create_channel,
    rotate_stream_key,
    stop_stream,
    update_channel,
)
from golive.http.web.csrf_guard import csrf_token_for, forgery_reason
from golive.http.web.page_shell import avatar, csrf_input, esc, render_page
from golive.http.web.request_body import BodyRefused, read_form
from golive.http.web.restream_section import restream_sections
from golive.http.web.site_context import WebContext

__all__ = ["CATEGORIES", "dashboard_routes"]

# Suggestions only: any category up to 60 characters is accepted.
CATEGORIES = (
    "Just Chatting",
    "Gaming",
    "Music",
    "Art",
    "Science & Technology",
    "Software Development",
    "Education",
    "Sports",
    "Talk Shows & Podcasts",
    "Travel & Outdoors",
)


def _status(info: LiveStreamInfo | None) -> str:
    if info is None:
        return "Offline"
    viewers = "" if info.viewers is None else f" · {info.viewers} watching"
    return f"{'Live' if info.state == 'live' else info.state.capitalize()}{viewers}"


def _key_box(name: str, new_key: str | None, channel: Channel) -> str:
    if new_key is None:
        return (
            f'<code class="key-hint">{esc(channel.masked_key)}</code>'
            '<span class="hint">Only a hash of the key is kept: rotate it to get a new one.</span>'
        )
    return (
        '<div class="key-box new-key">'
        f'<input class="stream-key" id="key-{esc(name)}" type="password" readonly '
        f'value="{esc(new_key)}" aria-label="Stream key of {esc(name)}" spellcheck="false">'
        '<button type="button" class="button small reveal-key">Show</button>'
        '<button type="button" class="button small copy-key">Copy</button></div>'
        '<p class="key-warning" role="alert">Copy this key now: it is shown only once. Anyone '
        "who has it can stream to your channel.</p>"
    )


_VISIBILITY_LABELS = (
    ("public", "Public: listed on the home page"),
    ("unlisted", "Unlisted: anyone with the link"),
    ("private", "Private: you, or a signed playback link"),
)


_RECORD_LABELS = (("on", "Record every broadcast (VODs, DVR, clips)"), ("off", "Do not record"))

_CLIP_LABELS = (
    ("everyone", "Any signed-in viewer"),
    ("moderators", "Only you and the site's moderators"),
)


def _select(label: str, name: str, current: str, labels: tuple[tuple[str, str], ...]) -> str:
    options = "".join(
        f'<option value="{value}"{" selected" if value == current else ""}>{text}</option>'
        for value, text in labels
    )
    return f'<label>{label} <select name="{name}">{options}</select></label>'


def _settings_selects(channel: Channel) -> str:
    return (
        _select("Visibility", "visibility", channel.visibility, _VISIBILITY_LABELS)
        + _select("Recording", "record", "on" if channel.record else "off", _RECORD_LABELS)
        + _select("Who can clip", "clip_permission", channel.clip_permission, _CLIP_LABELS)
    )


def dashboard_routes(ctx: WebContext) -> list[BaseRoute]:
    def channel_panel(
        channel: Channel, token: str, new_key: str | None, ingest: str, restream: str = ""
    ) -> str:
        name = channel.name
        info = ctx.live.get(name)
        live = info is not None
        path = f"/dashboard/channels/{esc(name)}"
        return (
            f'<section class="panel channel-panel" data-channel="{esc(name)}" '
            f'data-live="{"1" if live else "0"}">'
            f'<header class="panel-head">{avatar(name)}<div class="panel-title">'
            f'<h2><a href="/{esc(name)}">{esc(name)}</a></h2>'
            f'<span class="status-pill{" live" if live else ""}" data-role="status">'
            f"{esc(_status(info))}</span></div>"
            f'<form method="post" action="{path}/stop" class="stop-form"'
            f"{'' if live else ' hidden'}>{csrf_input(token)}"
            '<button class="button danger" type="submit">Stop stream</button></form>'
            f'<a class="button ghost" href="/{esc(name)}">View channel</a></header>'
            '<div class="panel-split">'
            '<div class="preview"><img class="thumb" alt="" '
            f'src="/live/{esc(name)}/thumbnail.jpg" data-src="/live/{esc(name)}/thumbnail.jpg">'
            '<span class="preview-offline">Offline</span></div>'
            '<div class="health"><h3>Stream health</h3>'
            '<dl class="health-grid" data-role="health"></dl>'
            '<p class="muted health-idle" data-role="idle">'
            + ("Waiting for stream data…" if live else "Not live. Start streaming to see health.")
            + '</p><ul class="health-warnings" data-role="warnings"></ul></div></div>'
            '<div class="panel-section"><h3>Stream settings</h3>'
            '<div class="field-row"><span class="field-label">Server</span>'
            f'<code class="ingest-url">{esc(ingest)}</code>'
            '<button type="button" class="button small copy-text" '
            f'data-copy="{esc(ingest)}">Copy</button></div>'
            '<div class="field-row"><span class="field-label">Stream key</span>'
            f'<div class="key-area" data-role="key">{_key_box(name, new_key, channel)}</div>'
            f'<form method="post" action="{path}/rotate-key" class="rotate-form">'
            f"{csrf_input(token)}"
            '<button class="button danger small" type="submit">Rotate key</button></form>'
            "</div></div>"
            f'<form method="post" action="{path}" class="panel-section info-form">'
            f"<h3>Channel info</h3>{csrf_input(token)}"
            f'<label>Title <input name="title" maxlength="{TITLE_LENGTH}" '
            f'value="{esc(channel.title)}" placeholder="What are you streaming?"></label>'
            f'<label>Category <input name="category" maxlength="{CATEGORY_LENGTH}" '
            f'list="categories" value="{esc(channel.category)}" placeholder="Just Chatting">'
            f"</label>{_settings_selects(channel)}"
            '<div class="form-actions"><button class="button primary" type="submit">'
            'Save</button><span class="form-status" role="status"></span></div></form>'
            f"{restream}</section>"
        )

    async def page(
        request: Request,
        user: SessionUser,
        *,
        notice: str = "",
        error: str = "",
        new_key: tuple[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        token = csrf_token_for(request, user)
        own = await ctx.channels.list(owner_id=user.id)
        ingest = ctx.ingest_url()
        restreams = await restream_sections(ctx, own, token)
        panels = "".join(
            channel_panel(
                c,
                token,
                new_key[1] if new_key is not None and new_key[0] == c.name else None,
                ingest,
                restreams.get(c.name, ""),
            )
            for c in own
        )
        if not own:
            panels = (
                '<section class="panel empty-panel"><h2>No channel yet</h2><p>Create one below: '
                "you get a stream key to put into OBS (or ffmpeg), and viewers watch at "
                "/&lt;channel&gt;.</p></section>"
            )
        categories = "".join(f'<option value="{esc(c)}">' for c in CATEGORIES)
        body = (
            '<div class="page-head"><h1>Creator dashboard</h1>'
            f'<p class="muted">Signed in as {esc(user.shown_name)} ({esc(user.username)})</p></div>'
            + (f'<p class="notice" role="status">{esc(notice)}</p>' if notice else "")
            + (f'<p class="form-error" role="alert">{esc(error)}</p>' if error else "")
            + f'<div class="dash-list">{panels}</div>'
            '<section class="panel create-panel"><h2>Create a channel</h2>'
            '<form method="post" action="/dashboard/channels" class="inline-form" id="create-form">'
            f"{csrf_input(token)}"
            '<label>Channel name <input name="name" required maxlength="32" '
            'pattern="[a-z0-9][a-z0-9_\\-]{0,31}" autocapitalize="none" spellcheck="false" '
            'title="lowercase letters, digits, - or _"></label>'
            '<button class="button primary" type="submit">Create channel</button></form>'
            f'</section><datalist id="categories">{categories}</datalist>'
        )
        return render_page(
            ctx,
            request,
            title="Dashboard",
            body=body,
            user=user,
            status=status,
            scripts=["/static/dist/dashboard.js"],
            page_class="dashboard",
        )

    async def signed_in_form(request: Request) -> tuple[SessionUser, dict[str, str]] | Response:
        try:
            fields = await read_form(request)
        except BodyRefused as exc:
            return PlainTextResponse(exc.message, exc.status)
        user = await ctx.sessions.user(request)
        if user is None:
            return RedirectResponse("/login?next=/dashboard", status_code=303)
        reason = forgery_reason(ctx, request, user, fields.get(CSRF_FIELD))
        if reason is not None:
            return await page(request, user, error=f"Request refused ({reason}).", status=403)
        return user, fields

    async def dashboard(request: Request) -> Response:
        user = await ctx.sessions.user(request)
        if user is None:
            return RedirectResponse("/login?next=/dashboard", status_code=303)
        return await page(request, user)

    async def create(request: Request) -> Response:
        got = await signed_in_form(request)
        if isinstance(got, Response):
            return got
        user, fields = got
        try:
            channel, key = await create_channel(ctx, user, fields.get("name", ""))
        except ChannelActionError as exc:
            return await page(request, user, error=exc.message, status=exc.status)
        return await page(
            request,
            user,
            notice=f"Channel {channel.name} created. Copy its stream key now: it is shown once.",
            new_key=(channel.name, key),
        )

    async def edit(request: Request) -> Response:
        got = await signed_in_form(request)
        if isinstance(got, Response):
            return got
        user, fields = got
        try:
            await update_channel(
                ctx,
                user,
                request.path_params["name"],
                title=fields.get("title", ""),
                category=fields.get("category", ""),
                visibility=fields.get("visibility"),
                record={"on": True, "off": False}.get(fields.get("record", "")),
                clip_permission=fields.get("clip_permission") or None,
            )
        except ChannelActionError as exc:
            return await page(request, user, error=exc.message, status=exc.status)
        return RedirectResponse("/dashboard", status_code=303)

    async def rotate(request: Request) -> Response:
        got = await signed_in_form(request)
        if isinstance(got, Response):
            return got
        user, _ = got
        name = request.path_params["name"]
        try:
            key = await rotate_stream_key(ctx, user, name)
        except ChannelActionError as exc:
            return await page(request, user, error=exc.message, status=exc.status)
        return await page(
            request,
            user,
            notice="New stream key issued; the old one no longer works. Copy it now.",
            new_key=(name, key),
        )

    async def stop(request: Request) -> Response:
        got = await signed_in_form(request)
        if isinstance(got, Response):
            return got
        user, _ = got
        name = request.path_params["name"]
        try:
            await stop_stream(ctx, user, name)
        except ChannelActionError as exc:
            return await page(request, user, error=exc.message, status=exc.status)
        return await page(
            request,
            user,
            notice=f"Stream of {name} stopped. The encoder may reconnect with the same key: "
            "rotate the key to keep it out.",
        )

    return [
        Route("/dashboard", dashboard, methods=["GET", "HEAD"]),
        Route("/dashboard/channels", create, methods=["POST"]),
        Route("/dashboard/channels/{name}", edit, methods=["POST"]),
        Route("/dashboard/channels/{name}/rotate-key", rotate, methods=["POST"]),
        Route("/dashboard/channels/{name}/stop", stop, methods=["POST"]),
    ]
