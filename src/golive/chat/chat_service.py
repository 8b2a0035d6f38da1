"""The chat rooms of the server, one per channel, loaded on first use.

A room follows its channel: a room is looked up again on every connection and moderation
action, when the API changes a channel, and every few seconds for all open rooms (the CLI
changes channels from another process). A new owner takes the owner's role at once; when
the channel is deleted (or deleted and created again under the same name) its room closes
every connection and a later room starts from the new channel.

Each room is joined to the chat bus when it opens: what its rules accept is published to the
other nodes, their events are applied to it, and its history is the database's merged with
the bus's recent messages (a message still on its way to another node's database is there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from golive.chat.chat_bus import ChatBus, InProcessChatBus
from golive.chat.chat_room import BatchObserver, ChatLimits, ChatPersistence, ChatRoom, RoomState

__all__ = ["ChannelRef", "ChatService"]

log = logging.getLogger("golive.chat")


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
        channels_by_id: Callable[[Collection[int]], Awaitable[dict[int, ChannelRef]]] | None = None,
        media_time: Callable[[str], tuple[str, float] | None] = lambda channel: None,
        limits: ChatLimits | None = None,
        on_batch: Callable[[str], BatchObserver | None] = lambda channel: None,
        bus: ChatBus | None = None,
    ) -> None:
        """``bus``: how rooms reach the same rooms on other nodes (closed with the service);
        by default this process is alone."""
        self._store = store
        self.bus: ChatBus = bus if bus is not None else InProcessChatBus()
        self._on_batch = on_batch
        self._channel = channel
        self._channels_by_id = channels_by_id
        self._room_state = room_state
        self._media_time = media_time
        self.limits = limits or ChatLimits()
        self.rooms: dict[str, ChatRoom] = {}
        self._opening: dict[str, asyncio.Future[ChatRoom | None]] = {}
        self._follower: asyncio.Task[None] | None = None

    async def room(self, name: str) -> ChatRoom | None:
        """The open room of channel ``name``, brought up to date with the channel, or None."""
        return await self._follow(name, await self._channel(name))

    async def channel_changed(self, name: str) -> None:
        """The channel's owner changed or it was deleted: update its room, if one is open."""
        if name in self.rooms:
            await self._follow(name, await self._channel(name))

    async def refresh(self) -> None:
        """Bring every open room up to date with its channel (one query for all of them)."""
        if self._channels_by_id is None:
            for name in list(self.rooms):
                await self.channel_changed(name)
            return
        rooms = list(self.rooms.values())
        refs = await self._channels_by_id([r.channel_id for r in rooms])
        for room in rooms:
            if self.rooms.get(room.channel) is room:
                await self._follow(room.channel, refs.get(room.channel_id))

    def follow_channels(self, every: float) -> None:
        """Refresh the open rooms every ``every`` seconds, until ``close``."""
        if self._follower is None:
            self._follower = asyncio.get_running_loop().create_task(self._follow_every(every))

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        await self.bus.close()

    async def _follow_every(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.refresh()
            except Exception:
                log.exception("chat: could not refresh the rooms' channels")

    async def _follow(self, name: str, ref: ChannelRef | None) -> ChatRoom | None:
        room = self.rooms.get(name)
        if room is not None:
            if ref is not None and ref.id == room.channel_id:
                await room.set_owner(ref.owner_id)
                return room
            # Deleted, perhaps created again: the old room's members and moderation go.
            del self.rooms[name]
            log.info(
                "chat of channel %s closed: the channel was deleted (%d connections)",
                name,
                len(room.members),
            )
            room.close()
            self.bus.leave(name)
        if ref is None:
            return None
        opening = self._opening.get(name)
        if opening is not None:
            return await opening  # one load per room, however many join at once
        future: asyncio.Future[ChatRoom | None] = asyncio.get_running_loop().create_future()
        self._opening[name] = future
        try:
            room = await self._open(ref)
            future.set_result(room)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._opening[name]
        return room

    async def _open(self, ref: ChannelRef) -> ChatRoom:
        state = await self._room_state(ref.id, self.limits.history)
        room = ChatRoom(
            ref.name,
            ref.id,
            ref.owner_id,
            state,
            self._store,
            limits=self.limits,
            media_time=lambda: self._media_time(ref.name),
            on_batch=self._on_batch(ref.name),
            publish=lambda event: self.bus.publish(ref.name, ref.id, event),
        )
        recent = await self.bus.join(ref.name, ref.id, room.apply, self.limits.history)
        if recent:
            room.add_history(recent)
        self.rooms[ref.name] = room
        return room
