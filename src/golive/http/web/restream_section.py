"""The dashboard's "Restream" section of a channel: its destinations with their live status,
and forms to add one, enable or disable it, or delete it (plain forms, no script needed;
each POST is checked for forgery, then answers a redirect back to the dashboard).

- ``POST /dashboard/channels/<name>/restreams``: add (``name``, ``url``, ``key``).
- ``POST /dashboard/channels/<name>/restreams/<id>/enable``, ``.../disable``, ``.../delete``.

The key is a password field, never rendered back: only its hint is shown.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from golive.accounts.csrf import CSRF_FIELD
from golive.db.models import Channel
from golive.db.restream_destinations import (
    KEY_LENGTH,
    NAME_LENGTH,
    URL_LENGTH,
    InvalidDestination,
    RestreamDestinationInfo,
    TooManyDestinations,
)
from golive.http.api.restream_status import RestreamStatusInfo
from golive.http.web.channel_actions import ChannelActionError, owned_channel
from golive.http.web.csrf_guard import forgery_reason
from golive.http.web.page_shell import csrf_input, esc, render_page
from golive.http.web.request_body import BodyRefused, read_form
from golive.http.web.site_context import WebContext

__all__ = ["restream_routes", "restream_section", "restream_sections", "restream_statuses"]


def _status_text(info: RestreamDestinationInfo, status: RestreamStatusInfo | None) -> str:
    if not info.enabled:
        return "Disabled"
    if status is None or status.state == "idle":
        return "Idle (starts when the channel is live)"
    if status.state == "live":
        return f"Live · {status.bitrate_bps / 1e6:.1f} Mbit/s"
    if status.state == "connecting":
        return "Connecting…"
    retry = "" if status.retry_in is None else f" · retrying in {status.retry_in:.0f} s"
    return f"Failed: {status.reason}{retry}"


def restream_statuses(ctx: WebContext, channel: str) -> Mapping[int, RestreamStatusInfo]:
    return {} if ctx.restream_live is None else ctx.restream_live.status(channel)


def restream_section(
    channel: Channel,
    destinations: list[RestreamDestinationInfo],
    statuses: Mapping[int, RestreamStatusInfo],
    token: str,
    limit: int,
) -> str:
    """The section's HTML (every value escaped)."""
    path = f"/dashboard/channels/{esc(channel.name)}/restreams"
    rows = []
    for d in destinations:
        status = statuses.get(d.id)
        state = "disabled" if not d.enabled else (status.state if status else "idle")
        toggle = "disable" if d.enabled else "enable"
        rows.append(
            f'<li class="restream" data-id="{d.id}" data-state="{esc(state)}">'
            f'<span class="restream-name">{esc(d.name or d.url)}</span> '
            f'<code class="restream-url">{esc(d.url)}/{esc(d.key_hint)}</code> '
            f'<span class="restream-status" data-role="restream-status">'
            f"{esc(_status_text(d, status))}</span>"
            f'<form method="post" action="{path}/{d.id}/{toggle}" class="inline-form">'
            f"{csrf_input(token)}"
            f'<button class="button small" type="submit">{toggle.capitalize()}</button></form>'
            f'<form method="post" action="{path}/{d.id}/delete" class="inline-form">'
            f"{csrf_input(token)}"
            '<button class="button small danger" type="submit">Delete</button></form></li>'
        )
    listing = (
        f'<ul class="restream-list">{"".join(rows)}</ul>'
        if rows
        else '<p class="muted">No destinations: the stream goes to this server only.</p>'
    )
    adding = (
        f'<form method="post" action="{path}" class="inline-form restream-add">'
        f"{csrf_input(token)}"
        f'<label>Name <input name="name" maxlength="{NAME_LENGTH}" placeholder="YouTube">'
        "</label>"
        f'<label>Server URL <input name="url" required maxlength="{URL_LENGTH}" '
        'placeholder="rtmps://live.example.com/app" spellcheck="false"></label>'
        f'<label>Stream key <input name="key" type="password" required maxlength="{KEY_LENGTH}" '
        'autocomplete="off" spellcheck="false"></label>'
        '<button class="button primary small" type="submit">Add</button></form>'
        if len(destinations) < limit
        else f'<p class="muted">At most {limit} destinations.</p>'
    )
    return (
        f'<div class="panel-section restream-section" id="restream-{esc(channel.name)}">'
        "<h3>Restream</h3>"
        '<p class="hint">While you are live, the stream is copied as it is (no re-encode) '
        "to each enabled destination. Keys are stored encrypted and never shown again.</p>"
        f"{listing}{adding}</div>"
    )


def restream_routes(ctx: WebContext) -> list[BaseRoute]:
    async def refused(request: Request, message: str, status: int) -> Response:
        user = await ctx.sessions.user(request)
        body = (
            f'<p class="form-error" role="alert">{esc(message)}</p>'
            '<p><a class="button" href="/dashboard">Back to the dashboard</a></p>'
        )
        return render_page(ctx, request, title="Restream", body=body, user=user, status=status)

    async def act(request: Request) -> Response:
        store = ctx.restreams
        if store is None:
            return PlainTextResponse("restreaming is not available", 404)
        try:
            fields = await read_form(request)
        except BodyRefused as exc:
            return PlainTextResponse(exc.message, exc.status)
        user = await ctx.sessions.user(request)
        if user is None:
            return RedirectResponse("/login?next=/dashboard", status_code=303)
        reason = forgery_reason(ctx, request, user, fields.get(CSRF_FIELD))
        if reason is not None:
            return await refused(request, f"Request refused ({reason}).", 403)
        name = request.path_params["name"]
        action = request.path_params.get("action", "add")
        try:
            channel = await owned_channel(ctx, user, name)
            if action == "add":
                await store.add(
                    channel.id,
                    url=fields.get("url", ""),
                    key=fields.get("key", ""),
                    name=fields.get("name", ""),
                    limit=ctx.settings().restream_max_destinations,
                )
            else:
                dest_id = int(request.path_params["dest_id"])
                if action == "delete":
                    done = await store.delete(channel.id, dest_id)
                else:
                    enabled = action == "enable"
                    done = await store.update(channel.id, dest_id, enabled=enabled) is not None
                if not done:
                    return await refused(request, "No such restream destination.", 404)
        except ChannelActionError as exc:
            return await refused(request, exc.message, exc.status)
        except (InvalidDestination, TooManyDestinations) as exc:
            return await refused(request, f"Destination refused: {exc}.", 422)
        if ctx.restream_live is not None:
            await ctx.restream_live.changed(channel.name)
        return RedirectResponse(f"/dashboard#restream-{channel.name}", status_code=303)

    async def act_on(request: Request) -> Response:
        if request.path_params["action"] not in ("enable", "disable", "delete"):
            return PlainTextResponse("no such action", 404)
        return await act(request)

    return [
        Route("/dashboard/channels/{name}/restreams", act, methods=["POST"]),
        Route(
            "/dashboard/channels/{name}/restreams/{dest_id:int}/{action:str}",
            act_on,
            methods=["POST"],
        ),
    ]


async def restream_sections(ctx: WebContext, channels: list[Channel], token: str) -> dict[str, str]:
    """Each channel's section by name (none when restreaming is not available)."""
    store = ctx.restreams
    if store is None:
        return {}
    limit = ctx.settings().restream_max_destinations
    return {
        c.name: restream_section(
            c, await store.of_channel(c.id), restream_statuses(ctx, c.name), token, limit
        )
        for c in channels
    }
