"""Chat replay: the chat messages of a VOD's live session in a range of the VOD's timeline.

The messages are those of the recording's stream (``ChatMessage.stream_id`` and its
channel: stream ids are short and only unique per channel), placed on the VOD's timeline by
``vod_timeline`` from the recorded segments' program date-times, oldest first. Hidden:
deleted messages, and every message of a user banned in the channel now (a permanent ban
or a timeout that has not run out), as the live chat hides them.

**Bounded.** A range is at most ``MAX_RANGE`` seconds and an answer at most ``MAX_MESSAGES``
messages (a client asks for the rest from the last one's time); the query runs on the
``(stream_id, media_time)`` index (migration 0011). A VOD's timeline is read once and kept
for the ``TIMELINES_KEPT`` most recent VODs (a ready VOD never changes).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.db.models import RECORDING_READY, ChatBan, ChatMessage, RecordingSegment, User
from golive.db.recordings import RecordingSummary
from golive.db.vod_timeline import VodTimeline

__all__ = ["MAX_MESSAGES", "MAX_RANGE", "ChatReplay", "ReplayMessage", "ReplayRangeError"]

MAX_RANGE = 600.0  # seconds of VOD time per request
MAX_MESSAGES = 500
TIMELINES_KEPT = 64
SOURCE = "source"


class ReplayRangeError(ValueError):
    """A range that is not ``0 <= from < to``, or longer than ``MAX_RANGE``."""


@dataclass(frozen=True, slots=True)
class ReplayMessage:
    id: str
    user: str
    display_name: str
    text: str
    t: float  # seconds from the VOD's start

    def json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "user": self.user,
            "display_name": self.display_name,
            "text": self.text,
            "t": self.t,
        }


def check_range(start: float, end: float) -> None:
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ReplayRangeError("from and to must be numbers")
    if start < 0 or end <= start:
        raise ReplayRangeError("the range must have 0 <= from < to")
    if end - start > MAX_RANGE:
        raise ReplayRangeError(f"the range may be at most {MAX_RANGE:.0f} seconds")


class ChatReplay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._timelines: OrderedDict[str, VodTimeline] = OrderedDict()

    async def timeline(self, recording_id: str, *, final: bool = True) -> VodTimeline:
        """The VOD's timeline: its ``source`` rendition's segments (the one the player's
        clock follows; a VOD without one, the rendition that lasts longest). Kept if
        ``final`` (the recording is finished: its segments no longer change)."""
        kept = self._timelines.get(recording_id)
        if kept is not None:
            self._timelines.move_to_end(recording_id)
            return kept
        async with self._sessionmaker() as db:
            totals = dict(
                (
                    await db.execute(
                        select(RecordingSegment.rendition, func.sum(RecordingSegment.duration))
                        .where(RecordingSegment.recording_id == recording_id)
                        .group_by(RecordingSegment.rendition)
                    )
                ).all()
            )
            if not totals:
                return VodTimeline.of(())
            rendition = SOURCE if SOURCE in totals else max(totals, key=lambda r: totals[r] or 0)
            rows = (
                await db.execute(
                    select(RecordingSegment.program_date_time, RecordingSegment.duration)
                    .where(
                        RecordingSegment.recording_id == recording_id,
                        RecordingSegment.rendition == rendition,
                    )
                    .order_by(RecordingSegment.sequence)
                )
            ).all()
        made = VodTimeline.of((float(pdt), float(dur)) for pdt, dur in rows)
        if not final:
            return made
        self._timelines[recording_id] = made
        while len(self._timelines) > TIMELINES_KEPT:
            self._timelines.popitem(last=False)
        return made

    async def messages(
        self, recording: RecordingSummary, start: float, end: float
    ) -> list[ReplayMessage]:
        """The messages at VOD times in ``[start, end)``, oldest first, at most
        ``MAX_MESSAGES``. Raises ReplayRangeError for a bad range."""
        check_range(start, end)
        if recording.channel_id is None:
            return []  # the channel is gone, and its chat with it
        timeline = await self.timeline(recording.id, final=recording.status == RECORDING_READY)
        if not timeline.starts:
            return []
        low = timeline.wall_from(start) - recording.started_at
        high = timeline.wall_from(end) - recording.started_at
        now = datetime.fromtimestamp(self._clock(), UTC)
        banned = select(ChatBan.user_id).where(
            ChatBan.channel_id == recording.channel_id,
            or_(ChatBan.until.is_(None), ChatBan.until > now),
        )
        query = (
            select(ChatMessage, User.username, User.display_name)
            .join(User, User.id == ChatMessage.user_id)
            .where(
                ChatMessage.stream_id == recording.stream_id,
                ChatMessage.channel_id == recording.channel_id,
                ChatMessage.media_time.is_not(None),
                ChatMessage.deleted.is_(False),
                ChatMessage.user_id.not_in(banned),
            )
            .order_by(ChatMessage.media_time, ChatMessage.sent_at_ms, ChatMessage.id)
            .limit(MAX_MESSAGES)
        )
        if math.isfinite(low):
            query = query.where(ChatMessage.media_time >= low)
        if math.isfinite(high):
            query = query.where(ChatMessage.media_time < high)
        async with self._sessionmaker() as db:
            rows = (await db.execute(query)).all()
        found = []
        for message, username, display_name in rows:
            sent = message.media_time
            if sent is None:
                continue
            t = timeline.vod_time(recording.started_at + sent)
            if start <= t < end:
                found.append(
                    ReplayMessage(
                        id=message.id,
                        user=username,
                        display_name=display_name or username,
                        text=message.text,
                        t=round(t, 3),
                    )
                )
        return found
