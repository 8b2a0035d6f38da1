"""Headers and JSON shapes shared by every browser-facing response."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

__all__ = ["CSP", "json_error", "json_ok", "security_headers"]

# Scripts and styles from this origin only (no inline script, no style attributes), so even
# markup that slipped through escaping could not run. hls.js needs blob: for the media
# element's MediaSource URL and its transmuxing worker. connect-src 'self' covers ws: and wss:
# to this same host (CSP Level 3), which is all the chat needs: no other host is reachable.
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; worker-src 'self' blob:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def security_headers() -> dict[str, str]:
    """Headers every page and JSON answer of the site carries."""
    return {
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "cache-control": "no-store",
    }


def json_ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**security_headers(), **(headers or {})})


def json_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The API's error shape: ``{"error": {"code", "message"}}``."""
    return json_ok({"error": {"code": code, "message": message}}, status, headers)
