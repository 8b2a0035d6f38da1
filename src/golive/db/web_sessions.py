"""Browser sessions: a random id in an HttpOnly cookie, its SHA-256 in the database."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import User, WebSession, utcnow

__all__ = ["SessionUser", "WebSessionStore"]


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The user a browser session belongs to, with the session's CSRF token."""

    id: int
    username: str
    display_name: str
    is_admin: bool
    csrf_token: str

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


class WebSessionStore:
    """Creates, resolves and ends browser sessions."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, lifetime: float = 30 * 86400
    ) -> None:
        self._sessionmaker = sessionmaker
        self.lifetime = lifetime

    async def create(self, user: User) -> str:
        """A new session for ``user``; returns the cookie value (shown only now)."""
        session_id = secrets.token_urlsafe(32)
        now = utcnow()
        async with self._sessionmaker() as db, db.begin():
            db.add(
                WebSession(
                    session_hash=_digest(session_id),
                    user_id=user.id,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.lifetime),
                )
            )
            # Sign-in is a good moment to sweep this user's expired sessions.
            await db.execute(
                delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at < now)
            )
        return session_id

    async def user(self, session_id: str | None) -> SessionUser | None:
        if not session_id or len(session_id) > 128:
            return None
        async with self._sessionmaker() as db:
            row = (
                await db.execute(
                    select(WebSession, User)
                    .join(User, User.id == WebSession.user_id)
                    .where(WebSession.session_hash == _digest(session_id))
                )
            ).first()
        if row is None:
            return None
        session, user = row
        if session.expires_at <= utcnow():
            return None
        return SessionUser(
            user.id, user.username, user.display_name, user.is_admin, session.csrf_token
        )

    async def end(self, session_id: str | None) -> None:
        if not session_id:
            return
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                delete(WebSession).where(WebSession.session_hash == _digest(session_id))
            )
