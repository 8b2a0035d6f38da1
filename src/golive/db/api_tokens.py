"""Personal API tokens: scoped, stored as hashes, revocable."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import ApiToken, User, utcnow

TOKEN_PREFIX = "glt_"
SCOPES = ("read", "write", "admin", "playback")
# Which held scopes allow each scope: read < write < admin nest; playback (issuing signed
# playback URLs, nothing else) stands beside them and write and admin include it.
_ALLOWED_BY = {
    "read": frozenset({"read", "write", "admin"}),
    "write": frozenset({"write", "admin"}),
    "admin": frozenset({"admin"}),
    "playback": frozenset({"playback", "write", "admin"}),
}
_MAX_TOKEN_LENGTH = 200
# last_used_at is written at most this often per token, so reads do not all become writes.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """Base class for the token store's errors; ``str()`` is a one-line message for users."""


class InvalidScopes(TokenError, ValueError):
    """Unknown scope names, none at all, or admin for a user who is not an administrator."""


class TokenNotFound(TokenError, LookupError):
    """No such token (or not one of this user's)."""


def hash_token(token: str) -> str:
    """Hex SHA-256: tokens carry 256 random bits, so a fast unsalted hash is enough."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes in canonical order; raises InvalidScopes for unknown names or none."""
    wanted = {s.strip().lower() for s in scopes if s.strip()}
    unknown = wanted - set(SCOPES)
    if unknown:
        raise InvalidScopes(
            f"unknown scope(s) {', '.join(sorted(unknown))}: use {', '.join(SCOPES)}"
        )
    if not wanted:
        raise InvalidScopes("a token needs at least one scope")
    return tuple(s for s in SCOPES if s in wanted)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the API: the token's user and what the token allows."""

    user: User
    token_id: int
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """Scopes nest: admin includes write, write includes read and playback."""
        return not self.scopes.isdisjoint(_ALLOWED_BY[scope])

    @property
    def is_admin(self) -> bool:
        """Administrator powers need both an admin user and a token with the admin scope."""
        return self.user.is_admin and "admin" in self.scopes


class ApiTokenStore:
    """Issues, checks, lists and revokes tokens; returned objects are detached."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def create(
        self, user: User, scopes: Iterable[str], *, name: str = ""
    ) -> tuple[ApiToken, str]:
        """A new token for ``user``; the secret is returned only here."""
        ordered = normalize_scopes(scopes)
        if "admin" in ordered and not user.is_admin:
            raise InvalidScopes(f"user {user.username!r} is not an administrator: no admin scope")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            user_id=user.id,
            name=name,
            token_hash=hash_token(secret),
            token_hint=secret[: len(TOKEN_PREFIX) + 4],
            scopes=" ".join(ordered),
            created_at=utcnow(),
        )
        async with self._sessionmaker() as session, session.begin():
            session.add(token)
            await session.flush()
            session.expunge(token)
        return token, secret

    async def authenticate(self, secret: str) -> Principal | None:
        """The caller behind a token secret, or None (unknown, malformed or revoked)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > _MAX_TOKEN_LENGTH:
            return None
        digest = hash_token(secret)
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(ApiToken, User)
                    .join(User, User.id == ApiToken.user_id)
                    .where(ApiToken.token_hash == digest)
                )
            ).one_or_none()
            if row is None:
                return None
            token, user = row
            session.expunge_all()
        if token.revoked_at is not None or not hmac.compare_digest(token.token_hash, digest):
            return None
        now = utcnow()
        if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
            async with self._sessionmaker() as session, session.begin():
                await session.execute(
                    update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                )
        return Principal(user, token.id, frozenset(token.scopes.split()))

    async def list(self, user_id: int | None = None) -> builtins.list[ApiToken]:
        """Tokens of one user (or everyone's), newest first, revoked ones included."""
        stmt = select(ApiToken).order_by(ApiToken.id.desc())
        if user_id is not None:
            stmt = stmt.where(ApiToken.user_id == user_id)
        async with self._sessionmaker() as session:
            tokens = builtins.list(await session.scalars(stmt))
            session.expunge_all()
        return tokens

    async def get(self, token_id: int) -> ApiToken | None:
        async with self._sessionmaker() as session:
            token = await session.get(ApiToken, token_id)
            if token is not None:
                session.expunge(token)
        return token

    async def revoke(self, token_id: int) -> ApiToken:
        """Revoke a token at once (idempotent); return it."""
        async with self._sessionmaker() as session, session.begin():
            token = await session.get(ApiToken, token_id)
            if token is None:
                raise TokenNotFound(f"no token with id {token_id}")
            if token.revoked_at is None:
                token.revoked_at = utcnow()
            await session.flush()
            session.expunge(token)
        return token
