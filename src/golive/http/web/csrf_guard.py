"""Applying the CSRF rules (golive.accounts.csrf) to the site's requests and pages."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from golive.accounts.csrf import (
    CSRF_COOKIE,
    csrf_token_matches,
    is_same_origin,
    is_well_formed_token,
    new_csrf_token,
)
from golive.accounts.web_sessions import SessionUser
from golive.http.web.site_context import WebContext

__all__ = ["attach_csrf_cookie", "csrf_token_for", "forgery_reason"]

log = logging.getLogger("golive.http")

_NEW_TOKEN_KEY = "golive_new_csrf"


def _cookie_token(request: Request) -> str | None:
    token = request.cookies.get(CSRF_COOKIE)
    return token if is_well_formed_token(token) else None


def csrf_token_for(request: Request, user: SessionUser | None) -> str:
    """The token a page rendered for this request embeds: the session's once signed in,
    else the browser's ``golive_csrf`` cookie (a new one is made, and set by
    :func:`attach_csrf_cookie`, when the browser has none)."""
    if user is not None:
        return user.csrf_token
    token = _cookie_token(request) or getattr(request.state, _NEW_TOKEN_KEY, None)
    if token is None:
        token = new_csrf_token()
        setattr(request.state, _NEW_TOKEN_KEY, token)
    return token


def attach_csrf_cookie(request: Request, response: Response, *, secure: bool) -> None:
    """Set the anonymous token's cookie if this request made a new one."""
    token = getattr(request.state, _NEW_TOKEN_KEY, None)
    if token is not None:
        response.set_cookie(
            CSRF_COOKIE, token, path="/", httponly=True, samesite="strict", secure=secure
        )


def forgery_reason(
    ctx: WebContext, request: Request, user: SessionUser | None, given: str | None
) -> str | None:
    """Why this state-changing request could be forged (None: it is fine)."""
    if not is_same_origin(request.headers, trusted_origins=ctx.trusted_origins()):
        reason = "cross-origin request refused"
    else:
        expected = user.csrf_token if user is not None else _cookie_token(request)
        if csrf_token_matches(expected, given):
            return None
        reason = "missing or wrong CSRF token: reload the page and try again"
    log.warning("web: %s %s refused: %s", request.method, request.url.path, reason)
    return reason
