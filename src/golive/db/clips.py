"""Clips: their rows, the view counter, who moderates a channel (for the clip permission),
and the state of each clip's MP4 download (``ClipExportLedger``, the ``ExportLedger`` of
``record/mp4_export.py`` structurally)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import (
    EXPORT_FAILED,
    EXPORT_PENDING,
    EXPORT_RUNNING,
    ChatModerator,
    Clip,
    User,
)

__all__ = ["ClipExportLedger", "ClipExportState", "ClipStore", "ClipSummary"]


@dataclass(frozen=True, slots=True)
class ClipSummary:
    """A clip as it stands (``created_at`` in seconds since the epoch; ``creator`` the
    username, "" once that user is deleted)."""

    id: str
    recording_id: str | None
    channel: str
    channel_id: int | None
    creator_id: int | None
    creator: str
    title: str
    visibility: str
    start: float
    duration: float
    created_at: float
    views: int
    status: str
    bytes: int

    @classmethod
    def of(cls, row: Clip, creator: str | None) -> ClipSummary:
        return cls(
            id=row.id,
            recording_id=row.recording_id,
            channel=row.channel,
            channel_id=row.channel_id,
            creator_id=row.creator_id,
            creator=creator or "",
            title=row.title,
            visibility=row.visibility,
            start=row.start,
            duration=row.duration,
            created_at=row.created_at.timestamp(),
            views=row.views,
            status=row.status,
            bytes=row.bytes,
        )


class ClipStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def create(
        self,
        clip_id: str,
        *,
        recording_id: str,
        channel: str,
        channel_id: int | None,
        creator_id: int,
        title: str,
        visibility: str,
        start: float,
        duration: float,
        status: str,
        size: int,
    ) -> ClipSummary:
        async with self._sessionmaker() as session, session.begin():
            row = Clip(
                id=clip_id,
                recording_id=recording_id,
                channel=channel,
                channel_id=channel_id,
                creator_id=creator_id,
                title=title,
                visibility=visibility,
                start=round(start, 3),
                duration=round(duration, 3),
                created_at=datetime.now(UTC),
                views=0,
                status=status,
                bytes=size,
            )
            session.add(row)
            await session.flush()
            creator = await session.get(User, creator_id)
            return ClipSummary.of(row, creator.username if creator is not None else None)

    def _query(self) -> Select[Clip, str]:
        return select(Clip, User.username).outerjoin(User, User.id == Clip.creator_id)

    async def get(self, clip_id: str) -> ClipSummary | None:
        async with self._sessionmaker() as session:
            found = (await session.execute(self._query().where(Clip.id == clip_id))).first()
            return ClipSummary.of(found[0], found[1]) if found is not None else None

    async def channel_of(self, clip_id: str) -> str | None:
        """The name of the channel a clip was cut from (playback tokens for clips)."""
        clip = await self.get(clip_id)
        return clip.channel if clip is not None else None

    async def for_channel(
        self, channel_id: int, *, visibilities: frozenset[str] | None, limit: int
    ) -> list[ClipSummary]:
        """A channel's clips, newest first; ``visibilities`` None: every one."""
        query = self._query().where(Clip.channel_id == channel_id)
        if visibilities is not None:
            query = query.where(Clip.visibility.in_(sorted(visibilities)))
        query = query.order_by(Clip.created_at.desc(), Clip.id.desc()).limit(limit)
        async with self._sessionmaker() as session:
            return [ClipSummary.of(row, name) for row, name in (await session.execute(query))]

    async def retitle(self, clip_id: str, title: str) -> ClipSummary | None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(update(Clip).where(Clip.id == clip_id).values(title=title))
        return await self.get(clip_id)

    async def delete(self, clip_id: str) -> bool:
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(delete(Clip).where(Clip.id == clip_id))
            return bool(getattr(result, "rowcount", 0))

    async def count_view(self, clip_id: str) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Clip).where(Clip.id == clip_id).values(views=Clip.views + 1)
            )

    async def is_moderator(self, channel_id: int, user_id: int) -> bool:
        async with self._sessionmaker() as session:
            row = await session.get(ChatModerator, (channel_id, user_id))
            return row is not None


@dataclass(frozen=True, slots=True)
class ClipExportState:
    status: str
    progress: float
    size: int
    error: str


class ClipExportLedger:
    """The MP4 export state of each clip, in its row (``export_*`` columns)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def get(self, clip_id: str) -> ClipExportState | None:
        async with self._sessionmaker() as session:
            row = await session.get(Clip, clip_id)
            if row is None or not row.export_status:
                return None
            return ClipExportState(
                row.export_status, row.export_progress, row.export_size, row.export_error
            )

    async def put(
        self,
        clip_id: str,
        *,
        status: str,
        progress: float = 0.0,
        size: int = 0,
        error: str = "",
    ) -> ClipExportState:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(
                update(Clip)
                .where(Clip.id == clip_id)
                .values(
                    export_status=status,
                    export_progress=progress,
                    export_size=size,
                    export_error=error[:500],
                )
            )
        return ClipExportState(status, progress, size, error[:500])

    async def interrupt_unfinished(self, reason: str) -> int:
        async with self._sessionmaker() as session, session.begin():
            result = await session.execute(
                update(Clip)
                .where(Clip.export_status.in_([EXPORT_PENDING, EXPORT_RUNNING]))
                .values(export_status=EXPORT_FAILED, export_error=reason[:500])
            )
            return int(getattr(result, "rowcount", 0) or 0)
