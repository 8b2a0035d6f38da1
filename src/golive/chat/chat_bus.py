"""How a room's events reach the same room on other nodes, and theirs reach it.

``ChatBus`` is the interface the chat service talks to; ``InProcessChatBus`` is the one for a
single process, where there are no other nodes: publishing does nothing and nothing arrives,
so `golive serve` alone pays nothing for it. The Redis implementation is
cluster/redis_chat_bus.py (its delivery guarantee: docs/chat.md, "Across nodes").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from golive.chat.room_event import RoomEvent

__all__ = ["ChatBus", "Deliver", "InProcessChatBus", "RecentMessages"]

# Applies an event from another node (or the bus's own ``SharingChanged``) to the local room.
Deliver = Callable[[RoomEvent], None]
# (user id, message) pairs, oldest first.
RecentMessages = list[tuple[int, dict[str, Any]]]


class ChatBus(Protocol):
    def publish(self, channel: str, channel_id: int, event: RoomEvent) -> None:
        """Send an event this node's room accepted to the other nodes; never blocks, never
        raises (a bus that cannot reach the others tells the rooms with ``SharingChanged``).
        ``channel_id`` tells a channel from an earlier one of the same name (deleted)."""
        ...

    async def join(
        self, channel: str, channel_id: int, deliver: Deliver, history: int
    ) -> RecentMessages | None:
        """Start delivering the other nodes' events of ``channel`` to ``deliver``; answers the
        last ``history`` messages the bus holds (deleted ones and banned users' left out), or
        None when it holds none or cannot be reached (the database's then stand alone)."""
        ...

    def leave(self, channel: str) -> None:
        """Stop delivering ``channel``'s events (its room closed)."""
        ...

    async def close(self) -> None: ...


class InProcessChatBus:
    """One process, one copy of each room: nothing to send or receive."""

    def publish(self, channel: str, channel_id: int, event: RoomEvent) -> None:
        pass

    async def join(
        self, channel: str, channel_id: int, deliver: Deliver, history: int
    ) -> RecentMessages | None:
        return None

    def leave(self, channel: str) -> None:
        pass

    async def close(self) -> None:
        pass
