"""The HTML frame around every server-rendered page: head, top bar, account menu.

Every value that is not a literal of this package goes through :func:`esc`; pages build
their bodies the same way. No inline script or style: the CSP forbids both.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse

from golive.accounts.web_sessions import SessionUser
from golive.http.web.csrf_guard import attach_csrf_cookie, csrf_token_for
from golive.http.web.site_context import WebContext
from golive.http.web.web_responses import security_headers

__all__ = ["avatar", "csrf_input", "esc", "render_page"]

_HUES = 8


def esc(value: object) -> str:
    """Text for HTML content and quoted attribute values."""
    return html.escape(str(value), quote=True)


def csrf_input(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def avatar(name: str, extra_class: str = "") -> str:
    """A coloured circle with the name's first letter (colour from the name, so stable)."""
    hue = sum(name.encode()) % _HUES
    letter = name[:1].upper() or "?"
    return f'<span class="avatar hue-{hue} {extra_class}" aria-hidden="true">{esc(letter)}</span>'


def _account_menu(user: SessionUser | None, token: str, here: str, signup_open: bool) -> str:
    if user is None:
        next_query = (
            f"?next={esc(quote(here, safe='/'))}" if here not in ("/", "/login", "/signup") else ""
        )
        return f'<a class="button ghost" href="/login{next_query}">Log in</a>' + (
            f'<a class="button primary" href="/signup{next_query}">Sign up</a>'
            if signup_open
            else ""
        )
    return (
        '<a class="button ghost" href="/dashboard">Dashboard</a>'
        f'<span class="me" title="{esc(user.username)}">{avatar(user.username)}'
        f'<span class="me-name">{esc(user.shown_name)}</span></span>'
        f'<form method="post" action="/logout" class="inline">{csrf_input(token)}'
        '<button class="button ghost" type="submit">Log out</button></form>'
    )


def render_page(
    ctx: WebContext,
    request: Request,
    *,
    title: str,
    body: str,
    user: SessionUser | None,
    status: int = 200,
    scripts: Sequence[str] = (),
    styles: Sequence[str] = (),
    page_class: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A whole page; ``body`` is HTML the caller built with :func:`esc`."""
    token = csrf_token_for(request, user)
    script_tags = "".join(f'<script src="{esc(src)}" defer></script>' for src in scripts)
    style_tags = "".join(f'<link rel="stylesheet" href="{esc(href)}">' for href in styles)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="dark">'
        f'<meta name="csrf-token" content="{esc(token)}">'
        f"<title>{esc(title)} · golive</title>"
        '<link rel="icon" href="data:,">'
        f'<link rel="stylesheet" href="/static/site.css">{style_tags}{script_tags}</head>'
        f'<body class="site {esc(page_class)}">'
        '<header class="topbar"><a class="brand" href="/"><span class="logo" aria-hidden="true">'
        '</span>golive</a><nav class="primary"><a href="/">Browse</a></nav>'
        f'<nav class="account" id="account-nav">{_account_menu(user, token, request.url.path, ctx.settings().signup != "closed")}'
        "</nav></header>"
        f'<main class="page">{body}</main></body></html>'
    )
    response = HTMLResponse(
        page, status_code=status, headers={**security_headers(), **(headers or {})}
    )
    attach_csrf_cookie(request, response, secure=ctx.sessions.secure(request))
    return response
