"""Chat persistence: messages (written in batches), moderators, bans and slow mode."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from golive.chat.chat_room import ChatUser, RoomState
from golive.chat.chat_service import ChannelRef
from golive.db.models import Channel, ChatBan, ChatMessage, ChatModerator, User

__all__ = ["ChatStore"]

log = logging.getLogger("golive.chat")

_FLUSH_EVERY = 0.5  # seconds: one transaction carries every message of that time
_MAX_QUEUED = 50_000  # messages waiting for the database before new ones are not persisted


class ChatStore:
    """Implements the rooms' ChatPersistence over the database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._queue: list[dict[str, Any]] = []
        self._writer: asyncio.Task[None] | None = None
        self.unsaved = 0  # messages not persisted because the database fell behind

    async def room_state(self, channel_id: int, history: int) -> RoomState:
        async with self._sessionmaker() as db:
            moderators = set(
                await db.scalars(
                    select(ChatModerator.user_id).where(ChatModerator.channel_id == channel_id)
                )
            )
            bans = {
                uid: (None if until is None else until.timestamp())
                for uid, until in await db.execute(
                    select(ChatBan.user_id, ChatBan.until).where(ChatBan.channel_id == channel_id)
                )
            }
            slow = await db.scalar(select(Channel.chat_slow_mode).where(Channel.id == channel_id))
            rows = (
                await db.execute(
                    select(ChatMessage, User)
                    .join(User, User.id == ChatMessage.user_id)
                    .where(ChatMessage.channel_id == channel_id, ChatMessage.deleted.is_(False))
                    .order_by(ChatMessage.sent_at_ms.desc())
                    .limit(history)
                )
            ).all()
        owner = await self._owner(channel_id)
        messages = []
        for message, user in reversed(rows):
            role = (
                "owner" if user.id == owner else "moderator" if user.id in moderators else "viewer"
            )
            messages.append(
                (
                    user.id,
                    {
                        "id": message.id,
                        "user": {
                            "name": user.username,
                            "display_name": user.display_name or user.username,
                            "role": role,
                        },
                        "text": message.text,
                        "time": message.sent_at_ms,
                        "media_time": message.media_time,
                    },
                )
            )
        return RoomState(moderators, bans, slow or 0, messages)

    async def channel_ref(self, name: str) -> ChannelRef | None:
        async with self._sessionmaker() as db:
            row = (
                await db.execute(
                    select(Channel.id, Channel.name, Channel.owner_id).where(Channel.name == name)
                )
            ).first()
        return None if row is None else ChannelRef(row[0], row[1], row[2])

    async def channel_refs(self, ids: Collection[int]) -> dict[int, ChannelRef]:
        """The channels of ``ids`` that still exist."""
        if not ids:
            return {}
        async with self._sessionmaker() as db:
            rows = await db.execute(
                select(Channel.id, Channel.name, Channel.owner_id).where(Channel.id.in_(ids))
            )
        return {cid: ChannelRef(cid, name, owner) for cid, name, owner in rows}

    async def _owner(self, channel_id: int) -> int | None:
        async with self._sessionmaker() as db:
            return await db.scalar(select(Channel.owner_id).where(Channel.id == channel_id))

    # -- ChatPersistence ------------------------------------------------------------------------

    def save_message(self, channel_id: int, user_id: int, message: dict[str, Any]) -> None:
        if len(self._queue) >= _MAX_QUEUED:
            self.unsaved += 1
            return
        self._queue.append(
            {
                "id": message["id"],
                "channel_id": channel_id,
                "user_id": user_id,
                "text": message["text"],
                "sent_at_ms": message["time"],
                "stream_id": message.get("stream_id"),
                "media_time": message["media_time"],
                "deleted": False,
            }
        )
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(_FLUSH_EVERY)
        await self.flush()

    async def flush(self) -> None:
        """Write the queued messages now (also at shutdown).

        One transaction for the whole batch; if a row is refused (its channel was deleted
        meanwhile), the batch is written again room by room, and a refused room message by
        message, so one bad row never costs another room its messages.
        """
        batch, self._queue = self._queue, []
        if not batch:
            return
        try:
            refused = await self._insert(batch)
        except Exception:
            self.unsaved += len(batch)
            log.exception("could not save %d chat messages", len(batch))
            return
        if refused is None:
            return
        rooms: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in batch:
            rooms[row["channel_id"]].append(row)
        for rows in rooms.values():
            if len(rooms) > 1 and await self._insert_or_log(rows) is None:
                continue
            for row in rows:
                error = await self._insert_or_log([row])
                if error is not None:
                    self.unsaved += 1
                    log.warning(
                        "chat message %s of channel id %s not saved: %s",
                        row["id"],
                        row["channel_id"],
                        getattr(error, "orig", None) or error,
                    )

    async def _insert(self, rows: list[dict[str, Any]]) -> IntegrityError | None:
        """Insert ``rows`` in one transaction; a refused row rolls it back and is returned."""
        try:
            async with self._sessionmaker() as db, db.begin():
                await db.execute(insert(ChatMessage), rows)
        except IntegrityError as exc:
            return exc
        return None

    async def _insert_or_log(self, rows: list[dict[str, Any]]) -> Exception | None:
        try:
            return await self._insert(rows)
        except Exception as exc:
            return exc

    async def message_author(self, channel_id: int, message_id: str) -> int | None:
        await self.flush()
        async with self._sessionmaker() as db:
            return await db.scalar(
                select(ChatMessage.user_id).where(
                    ChatMessage.id == message_id,
                    ChatMessage.channel_id == channel_id,
                    ChatMessage.deleted.is_(False),
                )
            )

    async def mark_deleted(self, channel_id: int, ids: list[str]) -> None:
        await self.flush()
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                update(ChatMessage)
                .where(ChatMessage.channel_id == channel_id, ChatMessage.id.in_(ids))
                .values(deleted=True)
            )

    async def delete_user_messages(self, channel_id: int, user_id: int) -> None:
        await self.flush()
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                update(ChatMessage)
                .where(ChatMessage.channel_id == channel_id, ChatMessage.user_id == user_id)
                .values(deleted=True)
            )

    async def set_moderator(self, channel_id: int, user_id: int, moderator: bool) -> None:
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                delete(ChatModerator).where(
                    ChatModerator.channel_id == channel_id, ChatModerator.user_id == user_id
                )
            )
            if moderator:
                db.add(ChatModerator(channel_id=channel_id, user_id=user_id))

    async def set_ban(self, channel_id: int, user_id: int, until: float | None, by: int) -> None:
        when = None if until is None else datetime.fromtimestamp(until, UTC)
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                delete(ChatBan).where(ChatBan.channel_id == channel_id, ChatBan.user_id == user_id)
            )
            db.add(ChatBan(channel_id=channel_id, user_id=user_id, until=when, by_user_id=by))

    async def remove_ban(self, channel_id: int, user_id: int) -> None:
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                delete(ChatBan).where(ChatBan.channel_id == channel_id, ChatBan.user_id == user_id)
            )

    async def set_slow_mode(self, channel_id: int, seconds: int) -> None:
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                update(Channel).where(Channel.id == channel_id).values(chat_slow_mode=seconds)
            )

    async def user_by_name(self, name: str) -> ChatUser | None:
        async with self._sessionmaker() as db:
            user = await db.scalar(select(User).where(User.username == name))
        return None if user is None else ChatUser(user.id, user.username, user.display_name)

    async def usernames(self, ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        async with self._sessionmaker() as db:
            rows = await db.execute(select(User.id, User.username).where(User.id.in_(ids)))
        return {uid: name for uid, name in rows}
