"""Browser sign-in sessions: the ``golive_session`` cookie and the server-side session it names.

The cookie holds 256 random bits; the database keeps only their SHA-256
(``golive.db.web_sessions``), so a leaked database row cannot be replayed as a cookie. The
cookie is HttpOnly (no script can read it), SameSite=Lax (not sent on cross-site
sub-requests or POSTs) and Secure when the request came over TLS or the server's public URL
is https.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.responses import Response

from golive.db.models import User
from golive.db.web_sessions import SessionUser, WebSessionStore

__all__ = ["SESSION_COOKIE", "BrowserSessions", "SessionUser"]

SESSION_COOKIE = "golive_session"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{32,128}")
_STATE_KEY = "golive_session_user"
_UNRESOLVED = object()


class BrowserSessions:
    """Resolves, starts and ends the session of the browser behind a request."""

    def __init__(
        self, store: WebSessionStore, *, force_secure: Callable[[], bool] = lambda: False
    ) -> None:
        self.store = store
        self._force_secure = force_secure

    @property
    def lifetime(self) -> float:
        return self.store.lifetime

    async def user(self, conn: HTTPConnection) -> SessionUser | None:
        """The signed-in user of the request or WebSocket, or None (looked up once per request)."""
        cached = getattr(conn.state, _STATE_KEY, _UNRESOLVED)
        if cached is not _UNRESOLVED:
            assert cached is None or isinstance(cached, SessionUser)
            return cached
        session_id = conn.cookies.get(SESSION_COOKIE)
        user = None
        if session_id is not None and _COOKIE_VALUE.fullmatch(session_id):
            user = await self.store.user(session_id)
        setattr(conn.state, _STATE_KEY, user)
        return user

    def secure(self, conn: HTTPConnection) -> bool:
        """Whether cookies set on this request's response get the Secure flag."""
        return self._force_secure() or conn.url.scheme in ("https", "wss")

    async def start(self, conn: HTTPConnection, response: Response, user: User) -> None:
        """Sign ``user`` in: a fresh session id (never one the browser already had)."""
        session_id = await self.store.create(user)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(self.store.lifetime),
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure(conn),
        )

    async def end(self, conn: HTTPConnection, response: Response) -> None:
        """Sign out: the session is deleted on the server, the cookie in the browser."""
        session_id = conn.cookies.get(SESSION_COOKIE)
        if session_id is not None and _COOKIE_VALUE.fullmatch(session_id):
            await self.store.end(session_id)
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure(conn)
        )
