"""The live side of restreaming as the API and the dashboard see it (app/restreaming.py
implements it over the forwarders of this node's streams)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["RestreamLive", "RestreamStatusInfo"]


@dataclass(frozen=True, slots=True)
class RestreamStatusInfo:
    state: str  # idle, connecting, live, failed
    reason: str = ""
    retry_in: float | None = None
    bitrate_bps: float = 0.0


class RestreamLive(Protocol):
    def status(self, channel: str) -> Mapping[int, RestreamStatusInfo]:
        """Each forwarded destination's status, by id (empty: the channel is not live here)."""
        ...

    async def changed(self, channel: str) -> None:
        """The channel's destinations changed: the live stream follows at once."""
        ...
