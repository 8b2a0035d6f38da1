"""Users: who owns channels and holds API tokens."""

from __future__ import annotations

import builtins

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import USERNAME_RE, User, utcnow


class UserError(Exception):
    """Base class for the user store's errors; ``str()`` is a one-line message for users."""


class UserExists(UserError):
    """A user with that name already exists."""


class UserNotFound(UserError, LookupError):
    """No such user."""


class InvalidUsername(UserError, ValueError):
    """The name does not match the username pattern."""


def check_username(name: str) -> str:
    """Return ``name`` if it is a valid username, else raise InvalidUsername."""
    if USERNAME_RE.fullmatch(name) is None:
        raise InvalidUsername(
            f"invalid username {name!r}: use 1-32 lowercase letters, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    return name


class UserStore:
    """Creates, lists, finds and deletes users; returned objects are detached."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def add(
        self,
        username: str,
        *,
        display_name: str = "",
        is_admin: bool = False,
        password_hash: str | None = None,
    ) -> User:
        check_username(username)
        user = User(
            username=username,
            display_name=display_name,
            is_admin=is_admin,
            password_hash=password_hash,
            created_at=utcnow(),
        )
        try:
            async with self._sessionmaker() as session, session.begin():
                session.add(user)
                await session.flush()
                session.expunge(user)
        except IntegrityError as exc:
            raise UserExists(f"user {username!r} already exists") from exc
        return user

    async def list(self) -> builtins.list[User]:
        async with self._sessionmaker() as session:
            users = builtins.list(await session.scalars(select(User).order_by(User.username)))
            session.expunge_all()
        return users

    async def get(self, user_id: int) -> User | None:
        async with self._sessionmaker() as session:
            user = await session.get(User, user_id)
            if user is not None:
                session.expunge(user)
        return user

    async def by_name(self, username: str) -> User | None:
        if USERNAME_RE.fullmatch(username) is None:
            return None
        async with self._sessionmaker() as session:
            result = await session.scalars(select(User).where(User.username == username))
            user = result.one_or_none()
            if user is not None:
                session.expunge(user)
        return user

    async def delete(self, user_id: int) -> None:
        """Delete a user and their tokens; their channels lose their owner (admins only)."""
        async with self._sessionmaker() as session, session.begin():
            connection = await session.connection()
            result = await connection.execute(delete(User).where(User.id == user_id))
            if result.rowcount != 1:
                raise UserNotFound(f"no user with id {user_id}")
