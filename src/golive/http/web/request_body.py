"""Reading a browser's form or JSON body with hard limits, before anything looks at it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

__all__ = ["BodyRefused", "read_form", "read_json"]

MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 20


class BodyRefused(Exception):
    """The body is too big, of the wrong type or malformed; ``status`` is the HTTP answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise BodyRefused(413, "too_large", "the request body is too large")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:  # chunked bodies have no Content-Length to check first
            raise BodyRefused(413, "too_large", "the request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of each field)."""
    if _media_type(request) != "application/x-www-form-urlencoded":
        raise BodyRefused(415, "unsupported_media_type", "expected a form")
    body = await _read(request, max_bytes)
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyRefused(400, "bad_request", "malformed form") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


async def read_json(request: Request, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """An ``application/json`` object body. Requiring that type also means a cross-site page
    cannot send it without a CORS preflight, which this server never grants."""
    if _media_type(request) != "application/json":
        raise BodyRefused(415, "unsupported_media_type", "expected application/json")
    body = await _read(request, max_bytes)
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyRefused(400, "bad_request", "malformed JSON") from exc
    if not isinstance(value, dict):
        raise BodyRefused(400, "bad_request", "expected a JSON object")
    return value
