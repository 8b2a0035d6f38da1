"""JSON for the VOD page's script, under ``/web/vods/<id>/``:

- ``GET /web/vods/<id>/chat?from=<s>&to=<s>``: chat replay, the messages of a range of the
  VOD's timeline (seconds from its start; at most 600 s, at most 500 messages), oldest
  first: ``{"messages": [{"id", "user", "display_name", "text", "t"}]}``. Anyone who may
  see the VOD (anonymous viewers for public and unlisted ones).
- ``POST /web/vods/<id>/mp4``: start the MP4 download (the owner's or an administrator's
  session, same-origin, the session's token in ``X-CSRF-Token``); ``GET``: its state,
  ``{"status", "progress", "size", "url", "error"}``, as the API's ``/api/v1/vods/{id}/mp4``.

Errors are ``{"error": {"code", "message"}}``; a VOD the browser may not see is a 404.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from golive.accounts.csrf import CSRF_HEADER
from golive.db.chat_replay import MAX_RANGE, ReplayRangeError
from golive.http.api.services import ExportView
from golive.http.web.csrf_guard import forgery_reason
from golive.http.web.site_context import WebContext
from golive.http.web.vod_access import seen_vod
from golive.http.web.web_responses import json_error, json_ok

__all__ = ["vod_json_routes"]

READY = "ready"


def _seconds(value: str | None, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ReplayRangeError("from and to must be numbers of seconds") from None
    if not math.isfinite(seconds):
        raise ReplayRangeError("from and to must be numbers of seconds")
    return seconds


def _export(vod_id: str, state: ExportView) -> dict[str, object]:
    ready = state.status == READY
    return {
        "status": state.status,
        "progress": min(1.0, max(0.0, state.progress)),
        "size": state.size if ready else None,
        "url": f"/vod/{vod_id}/download.mp4" if ready else None,
        "error": (state.error or None) if state.status == "failed" else None,
    }


def vod_json_routes(ctx: WebContext) -> list[BaseRoute]:
    site = ctx.vods
    if site is None:
        return []

    async def chat(request: Request) -> Response:
        seen = await seen_vod(ctx, request, request.path_params["id"])
        if seen is None:
            return json_error(404, "not_found", "no such video")
        try:
            start = _seconds(request.query_params.get("from"), 0.0)
            end = _seconds(request.query_params.get("to"), start + MAX_RANGE)
            found = await site.chat_replay.messages(seen.vod, start, end)
        except ReplayRangeError as exc:
            return json_error(400, "bad_range", str(exc))
        return json_ok({"messages": [m.json() for m in found]})

    async def mp4(request: Request) -> Response:
        exports = site.exports
        user = await ctx.sessions.user(request)
        if user is None:
            return json_error(401, "not_signed_in", "sign in first")
        if request.method == "POST":
            reason = forgery_reason(ctx, request, user, request.headers.get(CSRF_HEADER))
            if reason is not None:
                return json_error(403, "forbidden", reason)
        seen = await seen_vod(ctx, request, request.path_params["id"])
        if seen is None or exports is None:
            return json_error(404, "not_found", "no such video")
        if not seen.manages:
            return json_error(
                403, "forbidden", "only the channel's owner or an administrator may download it"
            )
        if request.method == "POST":
            state = await exports.start(seen.vod.id, seen.vod.duration)
            if state is None:
                return json_error(503, "export_busy", "too many downloads are being made; retry")
            return json_ok(_export(seen.vod.id, state), 200 if state.status == READY else 202)
        state = await exports.state(seen.vod.id)
        if state is None:
            return json_error(404, "not_exported", "no MP4 was asked for yet")
        return json_ok(_export(seen.vod.id, state))

    return [
        Route("/web/vods/{id}/chat", chat, methods=["GET", "HEAD"]),
        Route("/web/vods/{id}/mp4", mp4, methods=["GET", "HEAD", "POST"]),
    ]
