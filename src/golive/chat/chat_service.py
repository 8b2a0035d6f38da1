"""The chat rooms of the server, one per channel, loaded on first use."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from golive.chat.chat_room import ChatLimits, ChatPersistence, ChatRoom, RoomState

__all__ = ["ChannelRef", "ChatService"]


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """What a room needs to know of its channel."""

    id: int
    name: str
    owner_id: int | None


class ChatService:
    """Finds or opens the room of a channel. Rooms stay open (a room is its moderation state
    and 50 messages), so a message still on its way to the database is never missed."""

    def __init__(
        self,
        store: ChatPersistence,
        *,
        channel: Callable[[str], Awaitable[ChannelRef | None]],
        room_state: Callable[[int, int], Awaitable[RoomState]],
        media_time: Callable[[str], tuple[str, float] | None] = lambda channel: None,
        limits: ChatLimits | None = None,
    ) -> None:
        self._store = store
        self._channel = channel
        self._room_state = room_state
        self._media_time = media_time
        self.limits = limits or ChatLimits()
        self.rooms: dict[str, ChatRoom] = {}
        self._opening: dict[str, asyncio.Future[ChatRoom | None]] = {}

    async def room(self, name: str) -> ChatRoom | None:
        room = self.rooms.get(name)
        if room is not None:
            return room
        opening = self._opening.get(name)
        if opening is not None:
            return await opening  # one load per room, however many join at once
        future: asyncio.Future[ChatRoom | None] = asyncio.get_running_loop().create_future()
        self._opening[name] = future
        try:
            room = await self._open(name)
            future.set_result(room)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._opening[name]
        return room

    async def _open(self, name: str) -> ChatRoom | None:
        ref = await self._channel(name)
        if ref is None:
            return None
        state = await self._room_state(ref.id, self.limits.history)
        room = ChatRoom(
            ref.name,
            ref.id,
            ref.owner_id,
            state,
            self._store,
            limits=self.limits,
            media_time=lambda: self._media_time(ref.name),
        )
        self.rooms[name] = room
        return room
