"""JSON for the site's scripts, under ``/web/`` (the token API is ``/api/v1``):

- ``GET /web/session``: who is signed in, and the CSRF token for their JSON calls.
- ``GET /web/channels``: every channel with its live state (``?live=1``: live ones only; the
  home page refreshes from it).
- ``GET /web/channels/<name>``: title, category, whether it is recorded, live state, viewers
  (the watch page).
- ``GET /web/channels/<name>/health``: the stream's ingest health, for its owner.
- ``POST /web/channels``, ``POST /web/channels/<name>/settings`` (title, category, record,
  visibility, clip_permission),
  ``POST /web/channels/<name>/stream-key``, ``POST /web/channels/<name>/stop``: the
  dashboard's changes; same-origin
  ``application/json`` with the session's token in ``X-CSRF-Token``.

Errors are ``{"error": {"code", "message"}}`` like the API's.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from golive.accounts.csrf import CSRF_HEADER
from golive.accounts.web_sessions import SessionUser
from golive.db.models import CLIP_PERMISSIONS, Channel, is_valid_channel_name
from golive.http.api.services import LiveStreamInfo
from golive.http.web.channel_actions import (
    ChannelActionError,
    create_channel,
    listed_for,
    owned_channel,
    rotate_stream_key,
    stop_stream,
    update_channel,
    watchable_by,
)
from golive.http.web.csrf_guard import csrf_token_for, forgery_reason
from golive.http.web.request_body import BodyRefused, read_json
from golive.http.web.site_context import WebContext
from golive.http.web.web_responses import json_error, json_ok

__all__ = ["channel_json_routes", "signed_in_body"]


def _live_fields(info: LiveStreamInfo | None) -> dict[str, Any]:
    return {
        "live": info is not None,
        "state": None if info is None else info.state,
        "viewers": None if info is None else info.viewers,
        "started_at": None if info is None else info.started_at,
        "dvr": info is not None and info.dvr,
        "dvr_from": None if info is None else info.dvr_from,
    }


def _channel(channel: Channel, info: LiveStreamInfo | None) -> dict[str, Any]:
    return {
        "name": channel.name,
        "title": channel.title,
        "category": channel.category,
        "record": channel.record,
        "visibility": channel.visibility,
        "clip_permission": channel.clip_permission,
        **_live_fields(info),
    }


def _str_field(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise BodyRefused(400, "bad_request", f"{key} must be a string")
    return value


async def signed_in_body(
    ctx: WebContext, request: Request
) -> tuple[SessionUser, dict[str, Any]] | Response:
    """The user and JSON body of a state-changing call, or the refusal."""
    user = await ctx.sessions.user(request)
    if user is None:
        return json_error(401, "not_signed_in", "sign in first")
    reason = forgery_reason(ctx, request, user, request.headers.get(CSRF_HEADER))
    if reason is not None:
        return json_error(403, "forbidden", reason)
    try:
        body = await read_json(request)
    except BodyRefused as exc:
        return json_error(exc.status, exc.code, exc.message)
    return user, body


def channel_json_routes(ctx: WebContext) -> list[BaseRoute]:
    async def session(request: Request) -> Response:
        user = await ctx.sessions.user(request)
        if user is None:
            return json_ok({"user": None, "csrf": None})
        return json_ok(
            {
                "user": {
                    "name": user.username,
                    "display_name": user.shown_name,
                    "is_admin": user.is_admin,
                },
                "csrf": csrf_token_for(request, user),
            }
        )

    async def channels(request: Request) -> Response:
        if request.method == "POST":
            return await create(request)
        live = {info.channel: info for info in ctx.live.list()}
        user = await ctx.sessions.user(request)
        listed = [c for c in await ctx.channels.list() if listed_for(c, user)]
        if request.query_params.get("live") == "1":
            listed = [c for c in listed if c.name in live]
        return json_ok({"channels": [_channel(c, live.get(c.name)) for c in listed]})

    async def channel(request: Request) -> Response:
        name = request.path_params["name"]
        found = await ctx.channels.get(name) if is_valid_channel_name(name) else None
        if found is None or not watchable_by(found, await ctx.sessions.user(request)):
            return json_error(404, "not_found", "no such channel")
        owner = None
        if found.owner_id is not None:
            user = await ctx.users.get(found.owner_id)
            if user is not None:
                owner = {"name": user.username, "display_name": user.display_name or user.username}
        return json_ok({**_channel(found, ctx.live.get(found.name)), "owner": owner})

    async def signed_in_json(request: Request) -> tuple[SessionUser, dict[str, Any]] | Response:
        return await signed_in_body(ctx, request)

    async def health(request: Request) -> Response:
        user = await ctx.sessions.user(request)
        if user is None:
            return json_error(401, "not_signed_in", "sign in first")
        try:
            found = await owned_channel(ctx, user, request.path_params["name"])
        except ChannelActionError as exc:
            return json_error(exc.status, exc.code, exc.message)
        info = ctx.live.get(found.name)
        return json_ok(
            {
                "channel": found.name,
                **_live_fields(info),
                "peak_viewers": None if info is None else info.peak_viewers,
                "health": None if info is None else info.health,
            }
        )

    async def create(request: Request) -> Response:
        got = await signed_in_json(request)
        if isinstance(got, Response):
            return got
        user, body = got
        try:
            found, key = await create_channel(ctx, user, _str_field(body, "name"))
        except BodyRefused as exc:
            return json_error(exc.status, exc.code, exc.message)
        except ChannelActionError as exc:
            return json_error(exc.status, exc.code, exc.message)
        return json_ok({**_channel(found, None), "stream_key": key}, 201)

    async def settings(request: Request) -> Response:
        got = await signed_in_json(request)
        if isinstance(got, Response):
            return got
        user, body = got
        name = request.path_params["name"]
        try:
            current = await owned_channel(ctx, user, name)
            title = _str_field(body, "title") if "title" in body else current.title
            category = _str_field(body, "category") if "category" in body else current.category
            record = body.get("record")
            if record is not None and not isinstance(record, bool):
                raise BodyRefused(400, "bad_request", "record must be true or false")
            visibility = body.get("visibility")
            if visibility is not None and not isinstance(visibility, str):
                raise BodyRefused(400, "bad_request", "visibility must be a string")
            clip_permission = body.get("clip_permission")
            if clip_permission is not None and clip_permission not in CLIP_PERMISSIONS:
                raise BodyRefused(
                    400, "bad_request", "clip_permission must be everyone or moderators"
                )
            updated = await update_channel(
                ctx,
                user,
                name,
                title=title,
                category=category,
                record=record,
                visibility=visibility,
                clip_permission=clip_permission,
            )
        except BodyRefused as exc:
            return json_error(exc.status, exc.code, exc.message)
        except ChannelActionError as exc:
            return json_error(exc.status, exc.code, exc.message)
        return json_ok(_channel(updated, ctx.live.get(updated.name)))

    async def stream_key(request: Request) -> Response:
        got = await signed_in_json(request)
        if isinstance(got, Response):
            return got
        user, _ = got
        try:
            key = await rotate_stream_key(ctx, user, request.path_params["name"])
        except ChannelActionError as exc:
            return json_error(exc.status, exc.code, exc.message)
        return json_ok({"stream_key": key})

    async def stop(request: Request) -> Response:
        got = await signed_in_json(request)
        if isinstance(got, Response):
            return got
        user, _ = got
        try:
            await stop_stream(ctx, user, request.path_params["name"])
        except ChannelActionError as exc:
            return json_error(exc.status, exc.code, exc.message)
        return json_ok({"stopped": True})

    return [
        Route("/web/session", session, methods=["GET", "HEAD"]),
        Route("/web/channels", channels, methods=["GET", "HEAD", "POST"]),
        Route("/web/channels/{name}", channel, methods=["GET", "HEAD"]),
        Route("/web/channels/{name}/health", health, methods=["GET", "HEAD"]),
        Route("/web/channels/{name}/settings", settings, methods=["POST"]),
        Route("/web/channels/{name}/stream-key", stream_key, methods=["POST"]),
        Route("/web/channels/{name}/stop", stop, methods=["POST"]),
    ]
