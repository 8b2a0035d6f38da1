"""Concurrent viewers per channel, counted from the players' playlist requests.

Every HLS player reloads its media playlist every part or segment for as long as it plays,
chat or no chat, so a player is a viewer while its playlist requests keep coming. Each one
is told apart by a session id: the CMCD session id (``sid``) that hls.js and other players
send (the ``CMCD`` query parameter or the ``CMCD-Session`` header), else a hash of the
client address and User-Agent (VLC, ffmpeg, an embed without CMCD). A viewer not seen for
``expiry`` seconds has left. How this behaves behind caches is in docs/viewers.md.

Memory is bounded: at most ``max_sessions`` per channel (further new sessions are not
counted until others expire), and expired ones are swept as requests come.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ChannelViewers", "ViewerSessions", "session_id"]

_SID_MAX = 64  # characters of a CMCD session id kept (CTA-5004 recommends a UUID)


def _cmcd_sid(value: str) -> str | None:
    """The ``sid`` key of a CMCD payload (``key=value`` pairs separated by commas)."""
    for item in value.split(","):
        key, _, raw = item.strip().partition("=")
        if key == "sid" and raw:
            sid = raw.strip().strip('"')
            return sid[:_SID_MAX] if sid else None
    return None


def session_id(
    cmcd_query: str | None, cmcd_session_header: str | None, client: str, user_agent: str
) -> str:
    """Who is asking: ``c:<CMCD sid>``, or ``a:<hash of address and User-Agent>``."""
    for source in (cmcd_query, cmcd_session_header):
        if source:
            sid = _cmcd_sid(source)
            if sid is not None:
                return "c:" + sid
    digest = hashlib.blake2b(f"{client}\n{user_agent}".encode(), digest_size=12).hexdigest()
    return "a:" + digest


@dataclass(slots=True)
class ChannelViewers:
    """The sessions seen on one channel's current stream, and its peak."""

    stream_token: str
    seen: dict[str, float] = field(default_factory=dict)  # session id -> last seen
    peak: int = 0


class ViewerSessions:
    """Counts viewers per channel from their requests; a session expires ``expiry`` s after
    its last request."""

    def __init__(
        self,
        *,
        expiry: float = 30.0,
        max_sessions: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.expiry = expiry
        self.max_sessions = max_sessions
        self._clock = clock
        self._channels: dict[str, ChannelViewers] = {}
        self._next_sweep = 0.0

    def seen(self, channel: str, stream_token: str, session: str) -> None:
        """A request from ``session`` for ``channel``'s stream ``stream_token``."""
        now = self._clock()
        viewers = self._channels.get(channel)
        if viewers is None or viewers.stream_token != stream_token:
            # A new stream counts (and peaks) from zero.
            viewers = self._channels[channel] = ChannelViewers(stream_token)
        seen = viewers.seen
        if session not in seen and len(seen) >= self.max_sessions:
            self._sweep(viewers, now)
            if len(seen) >= self.max_sessions:
                return
        seen[session] = now
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            for other in self._channels.values():
                self._sweep(other, now)
        # Stale sessions are at most a second past their expiry here (swept each second).
        viewers.peak = max(viewers.peak, len(seen))

    def count(self, channel: str) -> int:
        viewers = self._channels.get(channel)
        return 0 if viewers is None else self._sweep(viewers, self._clock())

    def peak(self, channel: str) -> int:
        viewers = self._channels.get(channel)
        return 0 if viewers is None else max(viewers.peak, self.count(channel))

    def forget(self, channel: str) -> None:
        """The channel's stream ended: nobody watches it any more."""
        self._channels.pop(channel, None)

    def _sweep(self, viewers: ChannelViewers, now: float) -> int:
        limit = now - self.expiry
        seen = viewers.seen
        # Dicts keep insertion order, not last-seen order, so a full scan; it runs at most
        # once a second per channel and on count().
        stale = [sid for sid, last in seen.items() if last < limit]
        for sid in stale:
            del seen[sid]
        return len(seen)
