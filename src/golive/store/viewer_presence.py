"""The interface of a presence store shared by the nodes of a cluster, for viewer counts.

`ViewerSessions` counts the players each node sees; with a `ViewerPresence` it also hands
the sessions it saw to the shared store about once a second and reads back the count and
the peak over every node, so a player is counted once however many nodes it reaches. The
Redis implementation is `golive.cluster.redis_viewer_presence`; a single process has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["PresenceFigures", "PresenceUnavailable", "StreamPresence", "ViewerPresence"]


class PresenceUnavailable(Exception):
    """The shared store cannot be reached: each node counts its own viewers meanwhile."""


@dataclass(frozen=True, slots=True)
class StreamPresence:
    """One channel stream's part of a flush."""

    channel: str
    stream_token: str
    # Session id -> when this node last saw it, wall-clock seconds (nodes share the clock
    # scale, not a monotonic one); only the sessions seen since the last flush.
    sessions: Mapping[str, float]
    # The highest count this node knows of, so a shared peak that was lost comes back.
    peak: int


@dataclass(frozen=True, slots=True)
class PresenceFigures:
    """A stream's figures over every node."""

    count: int
    peak: int


class ViewerPresence(Protocol):
    async def share(
        self,
        streams: Sequence[StreamPresence],
        *,
        now: float,
        expiry: float,
        max_sessions: int,
    ) -> list[PresenceFigures]:
        """Adds ``streams``' sessions, forgets those not seen since ``now - expiry`` (wall
        clock) and keeps at most ``max_sessions`` per stream (the most recent ones); answers
        each stream's figures over every node, in order. Raises `PresenceUnavailable`."""
        ...
