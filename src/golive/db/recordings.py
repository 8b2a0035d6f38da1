"""Recordings and the index of their stored segments.

The archive writer (``record/``) calls ``create``, ``add_segment`` and ``finish`` from its
background worker, never from the live path; this class implements its ``RecordingIndex``
structurally. ``unfinished`` and ``resume_point`` serve the start-up: recordings a killed
process left open are finished, and a stream restored after a graceful restart continues its
recording. The VOD API reads, changes and deletes finished recordings; the retention task
reads ``retention_candidates`` and deletes through ``delete``.

**Group commit.** The archive runs one worker per recording, so index rows of many streams
arrive side by side (100 streams of 2 recorded renditions with 1 s segments: 200 rows a
second). ``add_segment`` does not open a transaction per row: a row joins the batch of
rows waiting, and one writer task inserts each batch in one transaction (the batch that
arrives while a transaction runs is the next one). Each caller still waits for its own row to
be committed, and learns of its own failure: if a batch fails, its rows are retried one per
transaction, so one bad row fails only its caller.

Rows arrive one or two at a time per stream (its video and audio segment), so most
batches are small, and a transaction through the async engine cost about 1.1 ms of CPU: on
SQLite, the batches go through a ``SqliteRowWriter`` (``db/sqlite_row_writer.py``, one
thread hop per batch, about 0.2 ms) when one is given; otherwise a Core ``executemany`` on
the table through the engine. The writer also waits ``batch_delay`` (50 ms) after the first
row before it commits, so rows of streams whose segments end close together share one.

**Fencing.** In a cluster a recording is written by the node holding its channel's publish
lease, and continued by the next holder when that node goes away (docs/scale-out.md). Each
write carries its writer's ``fence_token`` (the lease's token; 0 in a single process), and
the recording stores the largest token it has seen: ``create`` sets it, ``claim`` raises it
(a takeover, before it reads where the recording continues), and a segment row or ``finish``
with a larger token raises it too. A row or ``finish`` with a smaller one (a node paused past
its lease, waking up) is refused with ``StaleWriter``. The check and the write are one
transaction that keeps the recording's token from changing in between: the row writer's
``BEGIN IMMEDIATE`` on a SQLite file, a ``FOR SHARE`` lock on the recordings of a batch on
PostgreSQL (``finish`` and ``claim`` update the row, which locks it). A stale row fails
alone: the rest of its batch commits in the same transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Float, Integer, Table, cast, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.engine import sqlite_path
from golive.db.models import (
    RECORDING_ACTIVE,
    RECORDING_FAILED,
    RECORDING_READY,
    Channel,
    Clip,
    Recording,
    RecordingSegment,
    VodExport,
)
from golive.db.sqlite_row_writer import RowFence, SqliteRowWriter, fence_rows

# The table, not the mapped class: a Core executemany skips the ORM's bulk-insert machinery.
_SEGMENTS: Table = RecordingSegment.__table__  # type: ignore[assignment]  # a mapped class's table
_RECORDINGS: Table = Recording.__table__  # type: ignore[assignment]
SEGMENT_COLUMNS = (
    "recording_id",
    "rendition",
    "sequence",
    "media_start",
    "timescale",
    "duration",
    "byte_size",
    "program_date_time",
    "storage_key",
    "init_key",
    "discontinuity",
    "gap_before",
)
# A segment row carries its writer's token, checked against its recording's.
SEGMENT_FENCE = RowFence(
    owner_table="recordings",
    owner_key="id",
    token="fence_token",
    row_key="recording_id",
    row_token="fence_token",
)


class StaleWriter(Exception):
    """A write to a recording refused: a writer with a larger fencing token (the node that
    took the channel over) holds it now."""

    # How ``record/`` tells it apart without importing ``db/`` (``is_stale_writer``).
    stale_writer: ClassVar[bool] = True

    def __init__(self, recording_id: str, fence_token: int) -> None:
        super().__init__(
            f"recording {recording_id} is held by a writer with a fencing token larger than "
            f"{fence_token}"
        )
        self.recording_id = recording_id
        self.fence_token = fence_token


def segment_row_writer(database_url: str) -> SqliteRowWriter | None:
    """A direct writer for the index rows when the database is a SQLite file, else None."""
    path = sqlite_path(database_url)
    if path is None:
        return None
    return SqliteRowWriter(path, _SEGMENTS, SEGMENT_COLUMNS, fence=SEGMENT_FENCE)


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
    channel_id: int | None = None
    visibility: str = "public"
    views: int = 0
    gaps: int = 0  # known only from ``finish``: holes in its most affected rendition

    @classmethod
    def of(cls, row: Recording, *, gaps: int = 0) -> RecordingSummary:
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
            channel_id=row.channel_id,
            visibility=row.visibility,
            views=row.views,
            gaps=gaps,
        )


@dataclass(frozen=True, slots=True)
class RetentionRow:
    """What the retention policy needs of a recording: its age, size, state and its channel's
    own retention (None: the global one)."""

    id: str
    channel: str
    status: str
    started_at: float
    bytes: int
    retention_days: int | None
    retention_gb: float | None = None


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a recording continues: its id and the next sequence number of each rendition;
    where its stored media ends, on the wall clock (``last_end``, None with no segment) and
    on its media timeline (``media_end``, seconds)."""

    recording_id: str
    next_sequences: dict[str, int]
    last_end: float | None = None
    media_end: float = 0.0


class RecordingStore:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        row_writer: SqliteRowWriter | None = None,
        batch_delay: float = 0.05,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._row_writer = row_writer
        self._batch_delay = batch_delay
        # Segment rows waiting for the writer, each with its caller's future.
        self._rows: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.transactions = 0  # segment-row transactions committed (tests read it)

    async def create(
        self,
        recording_id: str,
        *,
        channel: str,
        stream_id: str,
        started_at: float,
        fence_token: int = 0,
    ) -> None:
        """A new recording of ``channel``'s stream, titled like the channel and as visible
        (a private channel's recordings are private VODs), held by ``fence_token``."""
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
                    visibility=row.visibility if row is not None else "public",
                    status=RECORDING_ACTIVE,
                    started_at=_utc(started_at),
                    fence_token=fence_token,
                )
            )

    async def claim(self, recording_id: str, fence_token: int) -> bool:
        """Take a recording over for the writer of ``fence_token`` (a node that took its
        channel's lease): its token is raised to ``fence_token``, so writes with a smaller
        one are refused from now on. False when a writer with a larger token holds it, or
        there is no such recording. Call it before reading where the recording continues:
        no stale row lands after that."""
        async with self._sessionmaker() as session, session.begin():
            return await _hold(session, recording_id, fence_token)

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
        fence_token: int = 0,
    ) -> None:
        """Add a stored segment's row (group commit); ``StaleWriter`` when a writer with a
        larger token holds the recording."""
        row: dict[str, Any] = {
            "recording_id": recording_id,
            "rendition": rendition,
            "sequence": sequence,
            "media_start": media_start,
            "timescale": timescale,
            "duration": duration,
            "byte_size": byte_size,
            "program_date_time": program_date_time,
            "storage_key": storage_key,
            "init_key": init_key,
            "discontinuity": discontinuity,
            "gap_before": gap_before,
            "fence_token": fence_token,
        }
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._rows.append((row, done))
        if self._writer is None:
            self._writer = loop.create_task(self._write_rows())
        await done

    async def _write_rows(self) -> None:
        """Insert the waiting rows, a batch per transaction, until none is left."""
        batch: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        try:
            if self._batch_delay > 0:
                await asyncio.sleep(self._batch_delay)  # let the rows of other streams join
            while self._rows:
                batch, self._rows = self._rows, []
                batch = [(row, done) for row, done in batch if not done.done()]  # not cancelled
                if not batch:
                    continue
                try:
                    refused = await self._insert([row for row, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][1], exc)
                        continue
                    for row, done in batch:  # find the row at fault: one per transaction
                        try:
                            alone = await self._insert([row])
                        except Exception as one:
                            _settle(done, one)
                        else:
                            _settle(done, _stale(row) if alone else None)
                else:
                    for i, (row, done) in enumerate(batch):
                        _settle(done, _stale(row) if i in refused else None)
                batch = []
        finally:
            self._writer = None
            # Cancelled (the loop is shutting down): nobody is left waiting forever.
            for _, done in batch + self._rows:
                done.cancel()
            self._rows = []

    async def _insert(self, rows: list[dict[str, Any]]) -> set[int]:
        """Insert ``rows`` in one transaction but for those their recording's token refuses;
        the positions of those."""
        if self._row_writer is not None:
            refused = await self._row_writer.insert(rows)
        else:
            async with self._sessionmaker() as session, session.begin():
                keys = sorted({row["recording_id"] for row in rows})
                stored = await _lock_tokens(session, keys)
                refused, raised = fence_rows(rows, stored, SEGMENT_FENCE)
                for recording_id, token in raised.items():
                    await session.execute(
                        update(_RECORDINGS)
                        .where(_RECORDINGS.c.id == recording_id)
                        .values(fence_token=token)
                    )
                accepted = [
                    {name: row[name] for name in SEGMENT_COLUMNS}
                    for i, row in enumerate(rows)
                    if i not in refused
                ]
                if accepted:
                    await session.execute(insert(_SEGMENTS), accepted)
        self.transactions += 1
        return refused

    async def close(self) -> None:
        """Close the row writer's connection (after the archive has flushed)."""
        if self._row_writer is not None:
            await self._row_writer.close()

    async def finish(
        self, recording_id: str, *, ended_at: float | None, fence_token: int = 0
    ) -> RecordingSummary:
        """Close a recording: ``ready`` if it has segments, else ``failed``.

        Its duration is that of its longest rendition; ``ended_at`` None (a recording a killed
        process left open) is the end of its last segment, or its start if it has none.
        ``StaleWriter`` when a writer with a larger token than ``fence_token`` holds it.
        """
        async with self._sessionmaker() as session, session.begin():
            # First, so the row stays locked (and its token unchanged) until the commit.
            held = await _hold(session, recording_id, fence_token)
            row = await session.get(Recording, recording_id)
            if row is None:
                raise LookupError(recording_id)
            if not held:
                raise StaleWriter(recording_id, fence_token)
            per_rendition = (
                await session.execute(
                    select(
                        func.sum(RecordingSegment.duration),
                        func.sum(RecordingSegment.byte_size),
                        func.max(RecordingSegment.program_date_time + RecordingSegment.duration),
                        func.sum(cast(RecordingSegment.gap_before, Integer)),
                    )
                    .where(RecordingSegment.recording_id == recording_id)
                    .group_by(RecordingSegment.rendition)
                )
            ).all()
            durations = [float(d or 0) for d, _, _, _ in per_rendition]
            ends = [float(e) for _, _, e, _ in per_rendition if e is not None]
            gaps = max((int(g or 0) for _, _, _, g in per_rendition), default=0)
            if ended_at is None:
                ended_at = max(ends) if ends else row.started_at.timestamp()
            row.ended_at = _utc(ended_at)
            row.duration = round(max(durations, default=0.0), 3)
            row.bytes = sum(int(b or 0) for _, b, _, _ in per_rendition)
            row.status = RECORDING_READY if per_rendition else RECORDING_FAILED
            return RecordingSummary.of(row, gaps=gaps)

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
        return await self.continuation(recording_id)

    async def continuation(self, recording_id: str) -> ResumePoint:
        """Where a recording left open goes on (its last segment of each rendition)."""
        async with self._sessionmaker() as session:
            last = (
                await session.execute(
                    select(
                        RecordingSegment.rendition,
                        func.max(RecordingSegment.sequence),
                        func.max(RecordingSegment.program_date_time + RecordingSegment.duration),
                        func.max(
                            cast(RecordingSegment.media_start, Float) / RecordingSegment.timescale
                            + RecordingSegment.duration
                        ),
                    )
                    .where(RecordingSegment.recording_id == recording_id)
                    .group_by(RecordingSegment.rendition)
                )
            ).all()
        return ResumePoint(
            recording_id,
            {name: int(seq) + 1 for name, seq, _, _ in last},
            last_end=max((float(e) for _, _, e, _ in last), default=None),
            media_end=max((float(m) for _, _, _, m in last), default=0.0),
        )

    async def active_for_channel(self, channel: str) -> RecordingSummary | None:
        """The channel's recording being written now (the newest, if several are open)."""
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(Recording)
                    .where(Recording.channel == channel, Recording.status == RECORDING_ACTIVE)
                    .order_by(Recording.started_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            return RecordingSummary.of(row) if row is not None else None

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

    async def segments_since(self, recording_id: str, since: float) -> list[RecordingSegment]:
        """A recording's segment rows whose date-time is ``since`` or later (a clip's window
        of a long recording: not every row of it), by rendition then sequence."""
        async with self._sessionmaker() as session:
            rows = (
                await session.execute(
                    select(RecordingSegment)
                    .where(
                        RecordingSegment.recording_id == recording_id,
                        RecordingSegment.program_date_time >= since,
                    )
                    .order_by(RecordingSegment.rendition, RecordingSegment.sequence)
                )
            ).scalars()
            return list(rows)

    async def stored_end(self, recording_id: str) -> float | None:
        """The date-time where the recording's stored segments end (None: none stored)."""
        async with self._sessionmaker() as session:
            end = (
                await session.execute(
                    select(
                        func.max(RecordingSegment.program_date_time + RecordingSegment.duration)
                    ).where(RecordingSegment.recording_id == recording_id)
                )
            ).scalar_one_or_none()
            return float(end) if end is not None else None

    async def duration_before(self, recording_id: str, rendition: str, sequence: int) -> float:
        """Seconds of ``rendition`` stored before segment ``sequence``: where it starts on
        the VOD's timeline."""
        async with self._sessionmaker() as session:
            total = (
                await session.execute(
                    select(func.sum(RecordingSegment.duration)).where(
                        RecordingSegment.recording_id == recording_id,
                        RecordingSegment.rendition == rendition,
                        RecordingSegment.sequence < sequence,
                    )
                )
            ).scalar_one_or_none()
            return float(total or 0.0)

    async def vods(
        self,
        channel_id: int,
        *,
        visibilities: frozenset[str] | None,
        limit: int,
        before: datetime | None = None,
    ) -> list[RecordingSummary]:
        """A channel's finished (``ready``) recordings, newest first, ``limit`` of them,
        started before ``before`` if given; ``visibilities`` None: every one."""
        query = select(Recording).where(
            Recording.channel_id == channel_id, Recording.status == RECORDING_READY
        )
        if visibilities is not None:
            query = query.where(Recording.visibility.in_(sorted(visibilities)))
        if before is not None:
            query = query.where(Recording.started_at < before)
        query = query.order_by(Recording.started_at.desc(), Recording.id.desc()).limit(limit)
        async with self._sessionmaker() as session:
            return [RecordingSummary.of(r) for r in (await session.execute(query)).scalars()]

    async def update(
        self, recording_id: str, *, title: str | None = None, visibility: str | None = None
    ) -> RecordingSummary | None:
        """Change a recording's title and/or visibility; None if there is no such recording."""
        async with self._sessionmaker() as session, session.begin():
            row = await session.get(Recording, recording_id)
            if row is None:
                return None
            if title is not None:
                row.title = title
            if visibility is not None:
                row.visibility = visibility
            return RecordingSummary.of(row)

    async def delete(self, recording_id: str) -> bool:
        """Remove a recording, its segment index and export state (not its objects); False if it was gone."""
        async with self._sessionmaker() as session, session.begin():
            # Its clips are copies: they stay, no longer linked (whether or not the database
            # enforces the foreign key's ON DELETE SET NULL).
            await session.execute(
                update(Clip).where(Clip.recording_id == recording_id).values(recording_id=None)
            )
            await session.execute(delete(VodExport).where(VodExport.recording_id == recording_id))
            await session.execute(
                delete(RecordingSegment).where(RecordingSegment.recording_id == recording_id)
            )
            result = await session.execute(delete(Recording).where(Recording.id == recording_id))
            return bool(getattr(result, "rowcount", 0))

    async def retention_candidates(self) -> list[RetentionRow]:
        """Every recording with what retention weighs (in-progress ones too: they count
        towards nothing but are reported, so the policy can say it left them alone)."""
        query = select(
            Recording.id,
            Recording.channel,
            Recording.status,
            Recording.started_at,
            Recording.bytes,
            Channel.retention_days,
            Channel.retention_gb,
        ).outerjoin(Channel, Channel.id == Recording.channel_id)
        async with self._sessionmaker() as session:
            rows = (await session.execute(query)).all()
        return [
            RetentionRow(
                id=rid,
                channel=channel,
                status=status,
                started_at=started_at.timestamp(),
                bytes=int(size or 0),
                retention_days=days,
                retention_gb=gigabytes,
            )
            for rid, channel, status, started_at, size, days, gigabytes in rows
        ]


async def _hold(session: AsyncSession, recording_id: str, fence_token: int) -> bool:
    """Raise the recording's token to ``fence_token`` unless it is larger; whether it was
    not (and the recording exists). The UPDATE locks the row (SQLite: the database) until the
    transaction ends, and compares in the database, where every writer meets."""
    result = await session.execute(
        update(_RECORDINGS)
        .where(_RECORDINGS.c.id == recording_id, _RECORDINGS.c.fence_token <= fence_token)
        .values(fence_token=fence_token)
    )
    return bool(getattr(result, "rowcount", 0))


async def _lock_tokens(session: AsyncSession, recording_ids: list[str]) -> dict[str, int]:
    """The stored tokens of ``recording_ids``, which stay as they are until the transaction
    ends."""
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite begins the transaction at the first write, not at a SELECT: a write
        # (changing nothing) first takes the database's write lock for the rest of it.
        await session.execute(
            update(_RECORDINGS)
            .where(_RECORDINGS.c.id.in_(recording_ids))
            .values(fence_token=_RECORDINGS.c.fence_token)
        )
        query = select(_RECORDINGS.c.id, _RECORDINGS.c.fence_token)
    else:
        # A shared lock: another batch may read them too, a claim or finish waits.
        query = select(_RECORDINGS.c.id, _RECORDINGS.c.fence_token).with_for_update(read=True)
    rows = (await session.execute(query.where(_RECORDINGS.c.id.in_(recording_ids)))).all()
    return {str(rid): int(token) for rid, token in rows}


def _stale(row: dict[str, Any]) -> StaleWriter:
    return StaleWriter(row["recording_id"], row["fence_token"])


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # its caller was cancelled meanwhile
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
