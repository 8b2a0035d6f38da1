"""The browser side of golive: home, sign-up and sign-in, and the streamer's dashboard.

Pages are rendered on the server with every piece of user data escaped (``html.escape``);
the scripts they load insert data with ``textContent`` only, and a Content-Security-Policy
allows scripts from this origin only, so a hostile name, title or message stays text.

State-changing forms carry a CSRF token: a random ``golive_csrf`` cookie (SameSite=Strict)
that the form must repeat (double submit), and a request with a foreign ``Origin`` is refused
outright. Sessions: an HttpOnly, SameSite=Lax cookie, Secure when the request came over TLS.
"""

from __future__ import annotations

import hmac
import html
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from golive.accounts.login_rate_limit import LoginRateLimit
from golive.accounts.password_hashing import (
    PasswordPolicyError,
    check_password_policy,
    hash_password,
    verify_password,
)
from golive.db.channels import ChannelError, ChannelStore
from golive.db.models import Channel, is_valid_channel_name
from golive.db.users import UserError, UserStore, check_username
from golive.db.web_sessions import SessionUser, WebSessionStore

__all__ = ["SESSION_COOKIE", "LiveView", "WebPages"]

log = logging.getLogger("golive.http")

SESSION_COOKIE = "golive_session"
CSRF_COOKIE = "golive_csrf"
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; worker-src 'self' blob:; "
    "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass(frozen=True, slots=True)
class LiveView:
    """A live stream as the pages show it."""

    channel: str
    viewers: int
    health: dict[str, Any]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


class WebPages:
    """Builds the page routes around the stores (app.py hands them in)."""

    def __init__(
        self,
        channels: ChannelStore,
        users: UserStore,
        sessions: WebSessionStore,
        *,
        live: Callable[[], list[LiveView]],
        login_limit: LoginRateLimit | None = None,
        secure_cookies: bool = False,
    ) -> None:
        self.channels = channels
        self.users = users
        self.sessions = sessions
        self.live = live
        self.login_limit = login_limit or LoginRateLimit()
        self.secure_cookies = secure_cookies

    # -- sessions ---------------------------------------------------------------------------

    async def session_user(self, conn: HTTPConnection) -> SessionUser | None:
        return await self.sessions.user(conn.cookies.get(SESSION_COOKIE))

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.home, methods=["GET", "HEAD"]),
            Route("/signup", self.signup, methods=["GET", "POST"]),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/dashboard", self.dashboard, methods=["GET", "HEAD"]),
            Route("/dashboard/channels", self.create_channel, methods=["POST"]),
            Route("/dashboard/channels/{name}", self.edit_channel, methods=["POST"]),
            Route("/dashboard/channels/{name}/rotate-key", self.rotate_key, methods=["POST"]),
            Route("/web/channels/{name}", self.channel_json, methods=["GET"]),
        ]

    # -- pages ------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        user = await self.session_user(request)
        live = {view.channel: view for view in self.live()}
        channels = await self.channels.list()
        on = [c for c in channels if c.name in live]
        off = [c for c in channels if c.name not in live]
        on.sort(key=lambda c: -live[c.name].viewers)
        cards = "".join(
            f'<li class="card live"><a href="/{_e(c.name)}">'
            f'<img class="thumb" alt="" src="/live/{_e(c.name)}/thumbnail.jpg" loading="lazy">'
            f'<span class="badge">Live</span>'
            f'<span class="viewers">{live[c.name].viewers} watching</span>'
            f'<strong class="title">{_e(c.title or c.name)}</strong>'
            f'<span class="name">{_e(c.name)}</span>'
            f'<span class="category">{_e(c.category)}</span></a></li>'
            for c in on
        )
        offline = "".join(
            f'<li class="card"><a href="/{_e(c.name)}"><strong class="title">'
            f'{_e(c.title or c.name)}</strong><span class="name">{_e(c.name)}</span>'
            f'<span class="category">{_e(c.category)}</span></a></li>'
            for c in off
        )
        body = (
            "<h1>Live now</h1>"
            + (
                f'<ul class="grid" id="live-channels">{cards}</ul>'
                if on
                else "<p>Nobody is live.</p>"
            )
            + "<h2>Offline</h2>"
            + f'<ul class="grid offline" id="offline-channels">{offline}</ul>'
        )
        return self._page(request, "golive", body, user)

    async def signup(self, request: Request) -> Response:
        if request.method == "GET":
            return self._page(request, "Sign up", self._account_form("signup"), None)
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        username = str(form.get("username", "")).strip().lower()
        password = str(form.get("password", ""))
        display = str(form.get("display_name", "")).strip()[:100]
        try:
            check_username(username)
            check_password_policy(password)
            user = await self.users.add(
                username, display_name=display, password_hash=await hash_password(password)
            )
        except (UserError, PasswordPolicyError) as exc:
            return self._page(
                request, "Sign up", self._account_form("signup", str(exc)), None, status=400
            )
        log.info("web: user %s signed up", username)
        return await self._signed_in(request, user.id)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._page(request, "Sign in", self._account_form("login"), None)
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        username = str(form.get("username", "")).strip().lower()[:64]
        password = str(form.get("password", ""))
        address = request.client.host if request.client is not None else ""
        keys = (f"user:{username}", f"addr:{address}")
        wait = self.login_limit.retry_after(*keys)
        if wait > 0:
            log.warning("web: sign-in for %r refused: too many failures", username)
            page = self._page(
                request,
                "Sign in",
                self._account_form("login", "Too many failed sign-ins. Try again later."),
                None,
                status=429,
            )
            page.headers["retry-after"] = str(int(wait) + 1)
            return page
        user = await self.users.by_name(username)
        if not await verify_password(None if user is None else user.password_hash, password):
            self.login_limit.failed(*keys)
            log.info("web: failed sign-in for %r", username)
            return self._page(
                request,
                "Sign in",
                self._account_form("login", "Wrong user name or password."),
                None,
                status=401,
            )
        assert user is not None
        self.login_limit.succeeded(*keys)
        return await self._signed_in(request, user.id)

    async def logout(self, request: Request) -> Response:
        _, refused = await self._form(request)
        if refused is not None:
            return refused
        await self.sessions.end(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def dashboard(self, request: Request) -> Response:
        user = await self.session_user(request)
        if user is None:
            return RedirectResponse("/login?next=/dashboard", status_code=303)
        return await self._dashboard(request, user)

    async def _dashboard(
        self,
        request: Request,
        user: SessionUser,
        *,
        notice: str = "",
        new_key: tuple[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        own = await self.channels.list(owner_id=user.id)
        live = {view.channel: view for view in self.live()}
        sections = []
        for c in own:
            key_box = ""
            if new_key is not None and new_key[0] == c.name:
                key_box = (
                    '<div class="key"><label>Stream key (shown once: copy it now)'
                    f'<input class="stream-key" readonly value="{_e(new_key[1])}"></label>'
                    '<button type="button" class="copy-key">Copy</button></div>'
                )
            sections.append(
                f'<section class="channel" data-channel="{_e(c.name)}">'
                f'<h2><a href="/{_e(c.name)}">{_e(c.name)}</a> '
                f'<span class="state">{"live" if c.name in live else "offline"}</span></h2>'
                f"<p>Key: <code>{_e(c.masked_key)}</code></p>{key_box}"
                f'<form method="post" action="/dashboard/channels/{_e(c.name)}/rotate-key">'
                f"{self._csrf_field(request)}<button>Rotate stream key</button></form>"
                f'<form method="post" action="/dashboard/channels/{_e(c.name)}">'
                f"{self._csrf_field(request)}"
                f'<label>Title <input name="title" maxlength="200" value="{_e(c.title)}"></label>'
                f'<label>Category <input name="category" maxlength="60" value="{_e(c.category)}">'
                "</label><button>Save</button></form>"
                '<dl class="health"></dl></section>'
            )
        body = (
            "<h1>Dashboard</h1>"
            + (f'<p class="notice">{_e(notice)}</p>' if notice else "")
            + "".join(sections)
            + '<form method="post" action="/dashboard/channels" class="create">'
            + self._csrf_field(request)
            + '<label>New channel <input name="name" required maxlength="32" '
            'pattern="[a-z0-9][a-z0-9_\\-]{0,31}"></label><button>Create channel</button></form>'
            + '<script src="/static/dist/dashboard.js" defer></script>'
        )
        return self._page(request, "Dashboard", body, user, status=status)

    async def create_channel(self, request: Request) -> Response:
        user, form, refused = await self._signed_in_form(request)
        if refused is not None:
            return refused
        assert user is not None
        name = str(form.get("name", "")).strip().lower()
        if not is_valid_channel_name(name):
            return await self._dashboard(
                request, user, notice=f"{name!r} is not a valid channel name.", status=400
            )
        try:
            _, key = await self.channels.add(name, owner_id=user.id)
        except ChannelError as exc:
            return await self._dashboard(request, user, notice=str(exc), status=400)
        log.info("web: %s created channel %s", user.username, name)
        return await self._dashboard(request, user, notice="Channel created.", new_key=(name, key))

    async def edit_channel(self, request: Request) -> Response:
        user, form, refused = await self._signed_in_form(request)
        if refused is not None:
            return refused
        assert user is not None
        channel = await self._own_channel(request, user)
        if channel is None:
            return HTMLResponse("Not found", 404)
        await self.channels.update(
            channel.name,
            title=str(form.get("title", "")).strip()[:200],
            category=str(form.get("category", "")).strip()[:60],
        )
        return RedirectResponse("/dashboard", status_code=303)

    async def rotate_key(self, request: Request) -> Response:
        user, _, refused = await self._signed_in_form(request)
        if refused is not None:
            return refused
        assert user is not None
        channel = await self._own_channel(request, user)
        if channel is None:
            return HTMLResponse("Not found", 404)
        key = await self.channels.rotate_key(channel.name)
        log.info("web: %s rotated the key of %s", user.username, channel.name)
        return await self._dashboard(
            request, user, notice="New stream key issued.", new_key=(channel.name, key)
        )

    async def channel_json(self, request: Request) -> Response:
        """The watch page's and the dashboard's view of a channel (health for its owner)."""
        name = request.path_params["name"]
        channel = await self.channels.get(name) if is_valid_channel_name(name) else None
        if channel is None:
            return JSONResponse({"error": "no such channel"}, status_code=404)
        user = await self.session_user(request)
        view = next((v for v in self.live() if v.channel == name), None)
        body: dict[str, Any] = {
            "name": channel.name,
            "title": channel.title,
            "category": channel.category,
            "live": view is not None,
            "viewers": view.viewers if view is not None else 0,
            "signed_in": user is not None,
        }
        if view is not None and user is not None and (user.is_admin or channel.owner_id == user.id):
            body["health"] = view.health
        return JSONResponse(body, headers={"cache-control": "no-store"})

    # -- helpers ----------------------------------------------------------------------------

    async def _own_channel(self, request: Request, user: SessionUser) -> Channel | None:
        channel = await self.channels.get(request.path_params["name"])
        if channel is None or (channel.owner_id != user.id and not user.is_admin):
            return None
        return channel

    async def _signed_in(self, request: Request, user_id: int) -> Response:
        user = await self.users.get(user_id)
        assert user is not None
        session_id = await self.sessions.create(user)
        target = request.query_params.get("next", "/dashboard")
        if not target.startswith("/") or target.startswith("//"):
            target = "/dashboard"  # no open redirects
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(self.sessions.lifetime),
            httponly=True,
            samesite="lax",
            secure=self._secure(request),
            path="/",
        )
        return response

    async def _signed_in_form(
        self, request: Request
    ) -> tuple[SessionUser | None, dict[str, Any], Response | None]:
        form, refused = await self._form(request)
        if refused is not None:
            return None, form, refused
        user = await self.session_user(request)
        if user is None:
            return None, form, RedirectResponse("/login", status_code=303)
        return user, form, None

    async def _form(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        """The posted form, or a refusal if the request could be forged."""
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
            log.warning("web: refused a cross-origin %s to %s", request.method, request.url.path)
            return {}, HTMLResponse("Cross-origin request refused", 403)
        async with request.form(max_files=0, max_fields=20) as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str) and len(v) <= 4096}
        cookie = request.cookies.get(CSRF_COOKIE, "")
        given = fields.get("csrf", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), str(given).encode()):
            log.warning(
                "web: refused a %s to %s without a valid CSRF token",
                request.method,
                request.url.path,
            )
            return fields, HTMLResponse(
                "Missing or wrong CSRF token: reload the page and try again", 403
            )
        return fields, None

    def _secure(self, request: HTTPConnection) -> bool:
        return self.secure_cookies or request.url.scheme == "https"

    def _csrf_field(self, request: Request) -> str:
        token = request.state.csrf if hasattr(request.state, "csrf") else None
        if token is None:
            token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
            request.state.csrf = token
        return f'<input type="hidden" name="csrf" value="{_e(token)}">'

    def _account_form(self, kind: str, error: str = "") -> str:
        title = "Sign up" if kind == "signup" else "Sign in"
        extra = (
            '<label>Display name <input name="display_name" maxlength="100"></label>'
            if kind == "signup"
            else ""
        )
        other = (
            '<p>Have an account? <a href="/login">Sign in</a></p>'
            if kind == "signup"
            else '<p>New here? <a href="/signup">Sign up</a></p>'
        )
        return (
            f"<h1>{title}</h1>"
            + (f'<p class="error" role="alert">{_e(error)}</p>' if error else "")
            + f'<form method="post" class="account" action="/{kind}">{{csrf}}'
            '<label>User name <input name="username" required maxlength="32" '
            'autocomplete="username"></label>'
            '<label>Password <input name="password" type="password" required minlength="8" '
            f'autocomplete="{"new-password" if kind == "signup" else "current-password"}"></label>'
            f"{extra}<button>{title}</button></form>{other}"
        )

    def _page(
        self,
        request: Request,
        title: str,
        body: str,
        user: SessionUser | None,
        *,
        status: int = 200,
    ) -> HTMLResponse:
        body = body.replace("{csrf}", self._csrf_field(request))
        csrf = self._csrf_field(request)
        if user is None:
            account = '<a href="/login">Sign in</a> <a href="/signup">Sign up</a>'
        else:
            account = (
                f'<a href="/dashboard">Dashboard</a> <span class="me">{_e(user.shown_name)}</span>'
                f'<form method="post" action="/logout" class="inline">{csrf}'
                "<button>Sign out</button></form>"
            )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title>"
            '<link rel="stylesheet" href="/static/player.css"></head>'
            f'<body class="site"><header class="bar"><a class="brand" href="/">golive</a>'
            f'<nav class="account">{account}</nav></header>'
            f'<main class="page">{body}</main></body></html>'
        )
        response = HTMLResponse(page, status_code=status, headers=security_headers())
        if not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(
                CSRF_COOKIE,
                request.state.csrf,
                httponly=False,
                samesite="strict",
                secure=self._secure(request),
                path="/",
            )
        return response


def security_headers() -> dict[str, str]:
    """Headers every page carries."""
    return {
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "cache-control": "no-store",
    }
