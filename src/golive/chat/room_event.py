"""What happened in a room, as facts another node's copy of the room can apply (sans-I/O).

A room publishes one of these after its own rules accepted the change (docs/chat.md, "Across
nodes"); a node receiving it applies it to its local room without checking rules again. They
are plain values: how they travel (and are encoded) is the bus's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "MessagePosted",
    "MessagesDeleted",
    "ModeratorChanged",
    "RoomEvent",
    "SharingChanged",
    "SlowModeChanged",
    "UserBanned",
    "UserUnbanned",
]


@dataclass(frozen=True, slots=True)
class MessagePosted:
    user_id: int
    message: dict[str, Any]  # as members receive it: id, user, text, time, media_time


@dataclass(frozen=True, slots=True)
class MessagesDeleted:
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserBanned:
    """A ban (``until`` None) or a timeout; either clears the user's messages."""

    user_id: int
    name: str
    until: float | None  # epoch seconds
    action: str  # "ban" or "timeout"
    seconds: int | None
    by: str | None


@dataclass(frozen=True, slots=True)
class UserUnbanned:
    user_id: int
    name: str
    by: str | None


@dataclass(frozen=True, slots=True)
class ModeratorChanged:
    user_id: int
    name: str
    moderator: bool
    by: str | None


@dataclass(frozen=True, slots=True)
class SlowModeChanged:
    seconds: int


@dataclass(frozen=True, slots=True)
class SharingChanged:
    """From the bus, never published: whether other nodes are reachable (``shared``) or chat
    is limited to this node."""

    shared: bool


RoomEvent = (
    MessagePosted
    | MessagesDeleted
    | UserBanned
    | UserUnbanned
    | ModeratorChanged
    | SlowModeChanged
    | SharingChanged
)
