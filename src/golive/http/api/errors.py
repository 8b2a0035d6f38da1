"""API errors: one JSON shape, ``{"error": {"code", "message"}}``, with stable codes."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

# code -> (HTTP status, when it is used); docs/api.md lists this table.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "missing_token": (401, "no `Authorization: Bearer <token>` header"),
    "invalid_token": (401, "the token is unknown, malformed or revoked"),
    "insufficient_scope": (403, "the token lacks the scope the endpoint needs"),
    "admin_required": (403, "the endpoint needs an administrator's token with the admin scope"),
    "not_found": (404, "no such endpoint"),
    "channel_not_found": (404, "no such channel, or not one the caller may see"),
    "stream_not_live": (404, "the channel has no live stream"),
    "user_not_found": (404, "no such user"),
    "token_not_found": (404, "no such token, or not one of the caller's"),
    "vod_not_found": (404, "no such VOD, or a private one of someone else's channel"),
    "not_vod_owner": (403, "only the channel's owner or an administrator may change the VOD"),
    "method_not_allowed": (405, "the endpoint exists but not with this method"),
    "channel_exists": (409, "a channel with that name already exists"),
    "user_exists": (409, "a user with that name already exists"),
    "chat_refused": (409, "the chat refused the action (e.g. on the channel's owner)"),
    "recording_in_progress": (409, "the recording is still being written: end the stream first"),
    "vod_not_exported": (404, "the VOD has no MP4 export yet: POST to start one"),
    "export_busy": (503, "too many MP4 exports are waiting; retry later"),
    "clip_not_found": (404, "no such clip, or a private one of someone else's channel"),
    "clip_not_allowed": (403, "the channel's clip_permission does not let the caller clip"),
    "not_clip_owner": (
        403,
        "only the clip's creator, the channel's owner or an administrator may change it",
    ),
    "invalid_clip": (422, "the clip's length or start is not a number, or not 5 to 60 s"),
    "clip_out_of_range": (422, "the clip's range is outside what is recorded"),
    "channel_not_live": (409, "the channel is not live (clip one of its VODs instead)"),
    "channel_not_recording": (409, "the channel's live stream is not being recorded"),
    "clip_rate_limited": (429, "too many clips made by this user lately; retry later"),
    "rate_limited": (
        429,
        "over api_requests_per_minute for this token, or too many unknown tokens from this "
        "address; Retry-After says when to try again",
    ),
    "restream_not_found": (404, "no such restream destination on the channel"),
    "restream_limit": (409, "the channel has restream_max_destinations destinations already"),
    "malformed_body": (400, "the request body is not valid JSON"),
    "invalid_request": (422, "a parameter or the body does not match the schema"),
    "invalid_channel_name": (422, "the channel name is not allowed (pattern or reserved)"),
    "invalid_stream_key": (422, "the chosen stream key is too short, unsafe or in use"),
    "invalid_scopes": (422, "unknown scopes, none, or admin for a non-administrator"),
    "invalid_playback_target": (
        422,
        "a playback token names exactly one channel, VOD or clip, for at most the longest ttl",
    ),
    "invalid_username": (422, "the username does not match the pattern"),
    "invalid_restream": (
        422,
        "a restream destination's URL (rtmp/rtmps, host, app path, no credentials or query), "
        "key or name is refused",
    ),
    "internal_error": (500, "a bug on the server's side; the server log has the details"),
    "storage_unavailable": (
        503,
        "the recording storage failed; nothing was lost and the same call can be retried",
    ),
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error the API returns."""

    error: ErrorDetail


class ApiError(Exception):
    """Raised by endpoints; rendered as an ErrorResponse with the code's status."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = ERROR_CODES[code][0]
        self.message = message
        self.retry_after = retry_after


def error_response(
    code: str, message: str, *, status: int | None = None, retry_after: float | None = None
) -> JSONResponse:
    headers = {"www-authenticate": "Bearer"} if code in ("missing_token", "invalid_token") else {}
    if retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(retry_after)))
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status if status is not None else ERROR_CODES[code][0],
        headers=headers,
    )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the error statuses an endpoint can return."""
    described = {
        400: "The body is not valid JSON",
        401: "Missing, invalid or revoked token",
        403: "The token lacks the scope (or admin rights) needed",
        404: "Not found, or not visible to the caller",
        409: "Conflicts with an existing resource",
        422: "Invalid parameters or body",
        429: "Too many requests; retry later",
        503: "A backend (recording storage) is unavailable; retry later",
    }
    chosen = {401, 403, 422, *statuses}
    return {
        status: {"model": ErrorResponse, "description": described[status]}
        for status in sorted(chosen)
    }


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.code, exc.message, retry_after=exc.retry_after)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return error_response("invalid_request", "; ".join(problems) or "invalid request")

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            return error_response("method_not_allowed", "method not allowed")
        if exc.status_code == 404:
            return error_response("not_found", "no such API endpoint")
        if exc.status_code == 400:
            return error_response("malformed_body", str(exc.detail))
        code = "invalid_request" if exc.status_code < 500 else "internal_error"
        return error_response(code, str(exc.detail), status=exc.status_code)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response("internal_error", "internal server error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
