"""Sign-up, sign-in and sign-out: ``/signup``, ``/login``, ``/logout``."""

from __future__ import annotations

import logging
import math
import re

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from golive.accounts.csrf import CSRF_FIELD
from golive.accounts.password_hashing import (
    MIN_LENGTH,
    HashingBusy,
    PasswordPolicyError,
    check_password_policy,
    hash_password,
    verify_password,
)
from golive.db.users import UserError, check_username
from golive.http.web.csrf_guard import csrf_token_for, forgery_reason
from golive.http.web.page_shell import csrf_input, esc, render_page
from golive.http.web.request_body import BodyRefused, read_form
from golive.http.web.site_context import WebContext
from golive.http.web.text_input import clean_line

__all__ = ["account_routes", "safe_next"]

log = logging.getLogger("golive.http")

DISPLAY_NAME_LENGTH = 100  # User.display_name's column
_NEXT = re.compile(r"/(?![/\\])[A-Za-z0-9._~/-]{0,200}")


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go to after signing in; anything else (other sites, ``//host``,
    schemes, odd characters) becomes ``default``: no open redirect."""
    if value and _NEXT.fullmatch(value):
        return value
    return default


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def account_routes(ctx: WebContext) -> list[BaseRoute]:
    def form_page(
        request: Request,
        kind: str,
        *,
        error: str = "",
        status: int = 200,
        username: str = "",
        display_name: str = "",
        next_path: str = "/",
        headers: dict[str, str] | None = None,
    ) -> Response:
        signup = kind == "signup"
        heading = "Join golive" if signup else "Log in to golive"
        button = "Sign up" if signup else "Log in"
        next_field = f'<input type="hidden" name="next" value="{esc(next_path)}">'
        next_query = f"?next={esc(next_path)}" if next_path != "/" else ""
        mode = ctx.settings().signup
        extra = (
            '<label>Display name <span class="hint">(optional, shown in chat)</span>'
            f'<input name="display_name" maxlength="{DISPLAY_NAME_LENGTH}" '
            f'autocomplete="nickname" value="{esc(display_name)}"></label>'
            if signup
            else ""
        )
        if signup and mode == "invite":
            extra += (
                '<label>Invite code <span class="hint">(sign-up is by invitation)</span>'
                '<input name="invite" required maxlength="64" autocomplete="off" '
                'spellcheck="false"></label>'
            )
        if signup:
            switch = f'Already have an account? <a href="/login{next_query}">Log in</a>'
        elif mode == "closed":
            switch = "New accounts are created by this instance's operator."
        else:
            switch = f'New to golive? <a href="/signup{next_query}">Sign up</a>'

        password_hint = (
            f'<span class="hint">(at least {MIN_LENGTH} characters)</span>' if signup else ""
        )
        body = (
            f'<section class="auth-card"><h1>{heading}</h1>'
            + (f'<p class="form-error" role="alert">{esc(error)}</p>' if error else "")
            + f'<form method="post" action="/{kind}" class="stack" id="{kind}-form">'
            + csrf_input(csrf_token_for(request, None))
            + next_field
            + '<label>Username <input name="username" required maxlength="32" '
            + (
                'pattern="[a-z0-9][a-z0-9_.\\-]{0,31}" title="lowercase letters, digits, '
                "'.', '-' or '_'\" "
                if signup
                else ""
            )
            + 'autocapitalize="none" spellcheck="false" '
            f'autocomplete="username" autofocus value="{esc(username)}"></label>'
            f"{extra}"
            f"<label>Password {password_hint}"
            f'<input name="password" type="password" required minlength="{MIN_LENGTH if signup else 1}" '
            f'maxlength="1024" autocomplete="{"new-password" if signup else "current-password"}">'
            "</label>"
            f'<button class="button primary wide" type="submit">{button}</button></form>'
            f'<p class="switch">{switch}</p></section>'
        )
        return render_page(
            ctx,
            request,
            title=button,
            body=body,
            user=None,
            status=status,
            page_class="auth",
            headers=headers,
        )

    async def refused(request: Request, kind: str, fields: dict[str, str]) -> Response | None:
        # These forms always carry the anonymous (cookie) token, signed in or not.
        reason = forgery_reason(ctx, request, None, fields.get(CSRF_FIELD))
        if reason is None:
            return None
        return form_page(
            request,
            kind,
            error=f"Request refused ({reason}).",
            status=403,
            next_path=safe_next(fields.get("next")),
        )

    async def signed_in(request: Request, user_id: int, next_path: str) -> Response:
        user = await ctx.users.get(user_id)
        assert user is not None
        response = RedirectResponse(next_path, status_code=303)
        await ctx.sessions.start(request, response, user)
        return response

    def signup_closed(request: Request) -> Response:
        body = (
            '<section class="auth-card"><h1>Sign-up is closed</h1>'
            "<p>This golive instance does not take new accounts. Ask its operator for one.</p>"
            '<p class="switch">Already have an account? <a href="/login">Log in</a></p></section>'
        )
        return render_page(
            ctx,
            request,
            title="Sign-up is closed",
            body=body,
            user=None,
            status=403,
            page_class="auth",
        )

    async def signup(request: Request) -> Response:
        mode = ctx.settings().signup
        if mode == "invite" and ctx.invites is None:
            mode = "closed"  # nothing to check codes against
        if request.method != "POST":
            next_path = safe_next(request.query_params.get("next"), "/dashboard")
            if await ctx.sessions.user(request) is not None:
                return RedirectResponse(next_path, status_code=303)
            if mode == "closed":
                return signup_closed(request)
            return form_page(request, "signup", next_path=next_path)
        if mode == "closed":
            log.info("web: sign-up from %s refused: sign-up is closed", _client(request))
            return signup_closed(request)
        try:
            fields = await read_form(request)
        except BodyRefused as exc:
            return PlainTextResponse(exc.message, exc.status)
        refusal = await refused(request, "signup", fields)
        if refusal is not None:
            return refusal
        username = fields.get("username", "").strip().lower()
        password = fields.get("password", "")
        display = clean_line(fields.get("display_name", ""), DISPLAY_NAME_LENGTH)
        next_path = safe_next(fields.get("next"), "/dashboard")

        def again(error: str, status: int = 400, headers: dict[str, str] | None = None) -> Response:
            return form_page(
                request,
                "signup",
                error=error,
                status=status,
                username=username[:32],
                display_name=display,
                next_path=next_path,
                headers=headers,
            )

        try:
            check_username(username)
            check_password_policy(password)
        except UserError:
            return again(
                "Usernames are 1-32 lowercase letters, digits, '.', '-' or '_', "
                "starting with a letter or digit."
            )
        except PasswordPolicyError as exc:
            return again(f"Choose another password: {exc}.")
        address = _client(request)
        # Checked and counted in one atomic step (on every node): concurrent sign-ups cannot
        # all pass the check.
        wait = await ctx.signup_limit.take(address)
        if wait > 0:
            log.warning("web: sign-up from %s refused: too many sign-ups", address)
            return again(
                "Too many new accounts from your network. Try again later.",
                429,
                {"retry-after": str(math.ceil(wait))},
            )
        invite = fields.get("invite", "").strip()
        if mode == "invite":
            assert ctx.invites is not None
            if not await ctx.invites.claim(invite):
                await ctx.signup_limit.give_back(address)
                log.info("web: sign-up of %r from %s refused: bad invite code", username, address)
                return again("That invite code is unknown or already used.", 403)
        user = None
        try:
            if await ctx.users.by_name(username) is not None:
                return again("That username is taken.", 409)
            password_hash = await hash_password(password)
            user = await ctx.users.add(username, display_name=display, password_hash=password_hash)
        except HashingBusy:
            log.warning(
                "web: sign-up of %r from %s refused: password queue full", username, address
            )
            return again("The server is busy. Try again in a moment.", 429, {"retry-after": "1"})
        except UserError:
            return again("That username is taken.", 409)  # taken meanwhile
        finally:
            if user is None:
                # Nothing was created: this attempt does not count, and the invite stays good.
                await ctx.signup_limit.give_back(address)
                if mode == "invite" and ctx.invites is not None:
                    await ctx.invites.release(invite)
        if mode == "invite" and ctx.invites is not None:
            await ctx.invites.used_by(invite, user.id)
        log.info("web: user %s signed up", username)
        return await signed_in(request, user.id, next_path)

    async def login(request: Request) -> Response:
        if request.method != "POST":
            next_path = safe_next(request.query_params.get("next"), "/dashboard")
            if await ctx.sessions.user(request) is not None:
                return RedirectResponse(next_path, status_code=303)
            return form_page(request, "login", next_path=next_path)
        try:
            fields = await read_form(request)
        except BodyRefused as exc:
            return PlainTextResponse(exc.message, exc.status)
        refusal = await refused(request, "login", fields)
        if refusal is not None:
            return refusal
        username = fields.get("username", "").strip().lower()[:64]
        password = fields.get("password", "")
        next_path = safe_next(fields.get("next"), "/dashboard")
        address = _client(request)
        # The attempt is counted before the password is checked, in one atomic step with the
        # check, so concurrent guesses (on any node) cannot all pass before any of them failed.
        wait = await ctx.login_limit.begin(username, address)
        if wait > 0:
            log.warning("web: sign-in of %r from %s refused: too many failures", username, address)
            return form_page(
                request,
                "login",
                error="Too many failed attempts. Wait a few minutes and try again.",
                status=429,
                username=username[:32],
                next_path=next_path,
                headers={"retry-after": str(math.ceil(wait))},
            )
        try:
            user = await ctx.users.by_name(username)
            matches = await verify_password(None if user is None else user.password_hash, password)
        except HashingBusy:
            await ctx.login_limit.cancelled(username, address)
            log.warning(
                "web: sign-in of %r from %s refused: password queue full", username, address
            )
            return form_page(
                request,
                "login",
                error="The server is busy. Try again in a moment.",
                status=429,
                username=username[:32],
                next_path=next_path,
                headers={"retry-after": "1"},
            )
        if not matches:
            log.info("web: failed sign-in of %r from %s", username, address)
            return form_page(
                request,
                "login",
                error="Wrong username or password.",
                status=401,
                username=username[:32],
                next_path=next_path,
            )
        assert user is not None
        await ctx.login_limit.succeeded(username, address)
        return await signed_in(request, user.id, next_path)

    async def logout(request: Request) -> Response:
        try:
            fields = await read_form(request)
        except BodyRefused as exc:
            return PlainTextResponse(exc.message, exc.status)
        user = await ctx.sessions.user(request)
        response = RedirectResponse("/", status_code=303)
        if user is None:
            await ctx.sessions.end(request, response)  # nothing to protect: just clear it
            return response
        reason = forgery_reason(ctx, request, user, fields.get(CSRF_FIELD))
        if reason is not None:
            return PlainTextResponse(f"Sign-out refused: {reason}", 403)
        await ctx.sessions.end(request, response)
        log.info("web: %s signed out", user.username)
        return response

    return [
        Route("/signup", signup, methods=["GET", "HEAD", "POST"]),
        Route("/login", login, methods=["GET", "HEAD", "POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
