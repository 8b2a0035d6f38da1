"""Invite codes: created by an administrator, each good for one sign-up."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import InviteCode, utcnow

__all__ = ["InviteInfo", "InviteStore"]

_PREFIX = "gli_"


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class InviteInfo:
    id: int
    hint: str
    created_at: datetime
    used: bool


class InviteStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def create(self) -> str:
        """A new code, returned once (only its hash is kept)."""
        code = _PREFIX + secrets.token_urlsafe(18)
        async with self._sessionmaker.begin() as session:
            session.add(InviteCode(code_hash=_digest(code), code_hint=code[:10]))
        return code

    async def list(self) -> list[InviteInfo]:
        async with self._sessionmaker() as session:
            rows = (await session.scalars(select(InviteCode).order_by(InviteCode.id))).all()
        return [InviteInfo(r.id, r.code_hint, r.created_at, r.used_at is not None) for r in rows]

    async def claim(self, code: str) -> bool:
        """Mark ``code`` used if it exists and is unused; one UPDATE, so two sign-ups racing
        for the same code cannot both get it."""
        if not code or len(code) > 64:
            return False
        async with self._sessionmaker.begin() as session:
            result = await session.execute(
                update(InviteCode)
                .where(InviteCode.code_hash == _digest(code), InviteCode.used_at.is_(None))
                .values(used_at=utcnow())
            )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def release(self, code: str) -> None:
        """Give a claimed code back (the sign-up it was claimed for failed)."""
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(InviteCode)
                .where(InviteCode.code_hash == _digest(code))
                .values(used_at=None, used_by=None)
            )

    async def used_by(self, code: str, user_id: int) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(
                update(InviteCode)
                .where(InviteCode.code_hash == _digest(code))
                .values(used_by=user_id)
            )
