"""Recordings and the index of their stored segments.

The archive writer (``record/``) calls ``create``, ``add_segment`` and ``finish`` from its
background worker, never from the live path; this class implements its ``RecordingIndex``
structurally. ``unfinished`` and ``resume_point`` serve the start-up: recordings a killed
process left open are finished, and a stream restored after a graceful restart continues its
recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import (
    RECORDING_ACTIVE,
    RECORDING_FAILED,
    RECORDING_READY,
    Channel,
    Recording,
    RecordingSegment,
)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    """A recording as it stands (times in seconds since the epoch)."""

    id: str
    channel: str
    stream_id: str
    title: str
    status: str
    started_at: float
    ended_at: float | None
    duration: float
    bytes: int
    visibility: str = "public"  # public, unlisted, private
    channel_id: int | None = None  # the channel itself (None once it is deleted)

    @classmethod
    def of(cls, row: Recording) -> RecordingSummary:
        return cls(
            id=row.id,
            channel=row.channel,
            stream_id=row.stream_id,
            title=row.title,
            status=row.status,
            started_at=row.started_at.timestamp(),
            ended_at=row.ended_at.timestamp() if row.ended_at is not None else None,
            duration=row.duration,
            bytes=row.bytes,
            visibility=row.visibility,
            channel_id=row.channel_id,
        )


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a recording continues: its id and the next sequence number of each rendition."""

    recording_id: str
    next_sequences: dict[str, int]


class RecordingStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def create(
        self, recording_id: str, *, channel: str, stream_id: str, started_at: float
    ) -> None:
        """A new recording of ``channel``'s stream, titled like the channel."""
        async with self._sessionmaker() as session, session.begin():
            row = (
                await session.execute(select(Channel).where(Channel.name == channel))
            ).scalar_one_or_none()
            session.add(
                Recording(
                    id=recording_id,
                    channel_id=row.id if row is not None else None,
                    channel=channel,
                    stream_id=stream_id,
                    title=row.title if row is not None else "",
                    status=RECORDING_ACTIVE,
                    started_at=_utc(started_at),
                )
            )

    async def add_segment(
        self,
        recording_id: str,
        *,
        rendition: str,
        sequence: int,
        media_start: int,
        timescale: int,
        duration: float,
        byte_size: int,
        program_date_time: float,
        storage_key: str,
        init_key: str,
        discontinuity: bool,
        gap_before: bool,
    ) -> None:
        async with self._sessionmaker() as session, session.begin():
            session.add(
                RecordingSegment(
                    recording_id=recording_id,
                    rendition=rendition,
                    sequence=sequence,
                    media_start=media_start,
                    timescale=timescale,
                    duration=duration,
                    byte_size=byte_size,
                    program_date_time=program_date_time,
                    storage_key=storage_key,
                    init_key=init_key,
                    discontinuity=discontinuity,
                    gap_before=gap_before,
                )
            )

    async def finish(self, recording_id: str, *, ended_at: float | None) -> RecordingSummary:
        """Close a recording: ``ready`` if it has segments, else ``failed``.

        Its duration is that of its longest rendition; ``ended_at`` None (a recording a killed
        process left open) is the end of its last segment, or its start if it has none.
        """
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(Recording, recording_id)
            if row is None:
                raise LookupError(recording_id)
            per_rendition = (
                await session.execute(
                    select(
                        func.sum(RecordingSegment.duration),
                        func.sum(RecordingSegment.byte_size),
                        func.max(RecordingSegment.program_date_time + RecordingSegment.duration),
                    )
                    .where(RecordingSegment.recording_id == recording_id)
                    .group_by(RecordingSegment.rendition)
                )
            ).all()
            durations = [float(d or 0) for d, _, _ in per_rendition]
            ends = [float(e) for _, _, e in per_rendition if e is not None]
            if ended_at is None:
                ended_at = max(ends) if ends else row.started_at.timestamp()
            row.ended_at = _utc(ended_at)
            row.duration = round(max(durations, default=0.0), 3)
            row.bytes = sum(int(b or 0) for _, b, _ in per_rendition)
            row.status = RECORDING_READY if per_rendition else RECORDING_FAILED
            return RecordingSummary.of(row)

    async def unfinished(self) -> list[RecordingSummary]:
        """Recordings still marked as being written."""
        async with self._sessionmaker() as session:
            rows = (
                await session.execute(select(Recording).where(Recording.status == RECORDING_ACTIVE))
            ).scalars()
            return [RecordingSummary.of(r) for r in rows]

    async def resume_point(self, channel: str, stream_id: str) -> ResumePoint | None:
        """The open recording of a stream restored after a restart, if there is one."""
        async with self._sessionmaker() as session:
            recording_id = (
                await session.execute(
                    select(Recording.id).where(
                        Recording.channel == channel,
                        Recording.stream_id == stream_id,
                        Recording.status == RECORDING_ACTIVE,
                    )
                )
            ).scalar_one_or_none()
            if recording_id is None:
                return None
            last = (
                await session.execute(
                    select(RecordingSegment.rendition, func.max(RecordingSegment.sequence))
                    .where(RecordingSegment.recording_id == recording_id)
                    .group_by(RecordingSegment.rendition)
                )
            ).all()
            return ResumePoint(recording_id, {name: int(seq) + 1 for name, seq in last})

    async def get(self, recording_id: str) -> RecordingSummary | None:
        async with self._sessionmaker() as session:
            row = await session.get(Recording, recording_id)
            return RecordingSummary.of(row) if row is not None else None

    async def for_channel(self, channel: str) -> list[RecordingSummary]:
        """A channel's recordings, newest first."""
        async with self._sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Recording)
                    .where(Recording.channel == channel)
                    .order_by(Recording.started_at.desc())
                )
            ).scalars()
            return [RecordingSummary.of(r) for r in rows]

    async def segments(self, recording_id: str) -> list[RecordingSegment]:
        """A recording's segment rows, by rendition then sequence."""
        async with self._sessionmaker() as session:
            rows = (
                await session.execute(
                    select(RecordingSegment)
                    .where(RecordingSegment.recording_id == recording_id)
                    .order_by(RecordingSegment.rendition, RecordingSegment.sequence)
                )
            ).scalars()
            return list(rows)
